//go:build silttest

package kafka

import (
	"fmt"
	"os"
	"time"
)

// silttest tells tests which build they run in.
const silttest = true

// fromEnv sets the knobs a test binary's environment names, unless a test
// set them in the Config already: SILT_TEST_KAFKA_COMMIT_DELAY and
// SILT_TEST_KAFKA_GATE_DELAY, as Go durations.
func (k *testKnobs) fromEnv() error {
	for _, v := range []struct {
		env string
		d   *time.Duration
	}{{"SILT_TEST_KAFKA_COMMIT_DELAY", &k.commitDelay}, {"SILT_TEST_KAFKA_GATE_DELAY", &k.gateCommitDelay}} {
		s := os.Getenv(v.env)
		if s == "" || *v.d != 0 {
			continue
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%s: %w", v.env, err)
		}
		*v.d = d
	}
	return nil
}
