package kafka

import (
	"testing"
	"time"
)

// The SILT_TEST_KAFKA_* variables reach the knobs only in a binary built
// with the silttest tag; a test set in the Config wins over them.
func TestKnobsFromEnv(t *testing.T) {
	t.Setenv("SILT_TEST_KAFKA_COMMIT_DELAY", "150ms")
	t.Setenv("SILT_TEST_KAFKA_GATE_DELAY", "1s")
	var k testKnobs
	if err := k.fromEnv(); err != nil {
		t.Fatal(err)
	}
	want := testKnobs{}
	if silttest {
		want = testKnobs{commitDelay: 150 * time.Millisecond, gateCommitDelay: time.Second}
	}
	if k != want {
		t.Fatalf("knobs %+v, want %+v (silttest %v)", k, want, silttest)
	}
	set := testKnobs{commitDelay: time.Hour}
	if err := set.fromEnv(); err != nil {
		t.Fatal(err)
	}
	if set.commitDelay != time.Hour {
		t.Fatalf("the environment overrode a knob a test set: %s", set.commitDelay)
	}
	if silttest {
		t.Setenv("SILT_TEST_KAFKA_COMMIT_DELAY", "soon")
		if err := (&testKnobs{}).fromEnv(); err == nil {
			t.Fatal("a bad duration was accepted")
		}
	}
}
