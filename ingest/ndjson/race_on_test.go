//go:build race

package ndjson

// raceEnabled: sync.Pool drops items at random under the race detector.
const raceEnabled = true
