//go:build !silttest

package kafka

// fromEnv leaves the knobs as they are: production builds read no test
// variables.
func (k *testKnobs) fromEnv() error { return nil }

// silttest tells tests which build they run in.
const silttest = false
