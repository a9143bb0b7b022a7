// Package tiering will move old segments to S3-compatible storage and read
// them back through a bounded local cache (issue 6).
package tiering
