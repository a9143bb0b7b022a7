package nats

import (
	"strings"
	"testing"

	"github.com/siltdb/silt/ingest/stream"
)

// TestValidateNames: the database and table a consumer writes to pass the
// same name validation as HTTP writes, at start-up rather than at the
// first flush.
func TestValidateNames(t *testing.T) {
	ok := Config{URL: "nats://x", Stream: "s", Consumer: "c", DB: "d", Format: stream.FormatLine, DeadLetter: "file:/x"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		db, table, want string
	}{
		{"\xff\xfe", "", "not valid UTF-8"},
		{strings.Repeat("/", 100), "", "once escaped"},
		{"d", strings.Repeat("/", 100), "table name"},
	} {
		cfg := ok
		cfg.DB, cfg.Table = c.db, c.table
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("db %q table %q: %v, want an error naming %q", c.db, c.table, err, c.want)
		}
	}
}
