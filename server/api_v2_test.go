package server

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/domain"
)

// The Go InfluxDB v2 client shows Silt's reason for a rejected line: it
// reads the message key of the error answer.
func TestV2ClientShowsSiltsErrorMessage(t *testing.T) {
	ts := startServer(t, 0)
	c := influxdb2.NewClient(ts.url, "")
	defer c.Close()
	w := c.WriteAPIBlocking("any-org", "v2db")
	err := w.WriteRecord(context.Background(), "cpu,host=a usage=1 1700000000000000000", "cpu,host=a usage=oops 1700000000000000000")
	if err == nil {
		t.Fatal("a bad line was accepted")
	}
	// What the client prints: Silt's code and its message, the line and
	// the reason.
	if !strings.Contains(err.Error(), "line 2") || strings.Contains(err.Error(), "Unexpected status code") {
		t.Fatalf("the client shows %q, not Silt's message", err)
	}
	// The good line was written.
	code, body := ts.get(t, "/api/v1/sql?db=v2db&q=SELECT+count(*)+AS+n+FROM+cpu")
	if code != 200 || !strings.Contains(string(body), `"rows":[[1]]`) {
		t.Fatalf("sql: %d %s", code, body)
	}

	// Flux: the client's query API gets the pointer to InfluxQL and SQL.
	_, err = c.QueryAPI("any-org").Query(context.Background(), `from(bucket:"v2db") |> range(start: -1h)`)
	if err == nil || !strings.Contains(err.Error(), "Flux is not supported") || !strings.Contains(err.Error(), "InfluxQL") {
		t.Fatalf("Flux query: %v", err)
	}
}

// Every error answer of an /api/v2 path has message next to Silt's error
// and code: the handlers', and the auth refusal made before any runs.
func TestV2ErrorsHaveMessage(t *testing.T) {
	ts := startServerWith(t, Config{Tokens: []Token{{Name: "r", Secret: "rsecret", Read: true}}})
	for _, tc := range []struct {
		path, body string
		hdr        []string
		status     int
	}{
		{"/api/v2/write?bucket=db", "cpu v=1", nil, 401},
		{"/api/v2/write?bucket=db", "cpu v=1", []string{"Authorization", "Token rsecret"}, 403},
		{"/api/v2/write?bucket=db&precision=weeks", "cpu v=1", []string{"Authorization", "Token nope"}, 401},
		{"/api/v2/query", `{"query":"from(bucket:\"db\")"}`, []string{"Authorization", "Token rsecret"}, 400},
		{"/api/v2/buckets", `{"name":`, []string{"Authorization", "Token rsecret"}, 403},
	} {
		code, _, body := ts.post(t, tc.path, tc.body, tc.hdr...)
		if code != tc.status {
			t.Errorf("%s: status %d, want %d: %s", tc.path, code, tc.status, body)
			continue
		}
		var e map[string]any
		if err := json.Unmarshal(body, &e); err != nil {
			t.Errorf("%s: %v: %s", tc.path, err, body)
			continue
		}
		if e["message"] == nil || e["message"] != e["error"] || e["code"] == nil {
			t.Errorf("%s: want message == error and a code: %s", tc.path, body)
		}
	}
	// Other paths keep Silt's shape alone.
	code, _, body := ts.post(t, "/write?db=db", "cpu v=1")
	if code != 401 || strings.Contains(string(body), "message") {
		t.Errorf("/write: %d %s", code, body)
	}
}

// Buckets are databases and every org exists: the v2 client's bucket and
// organization APIs, and its health check, work.
func TestV2BucketsOrgsHealth(t *testing.T) {
	ts := startServer(t, 0)
	ctx := context.Background()
	c := influxdb2.NewClient(ts.url, "")
	defer c.Close()

	h, err := c.Health(ctx)
	if err != nil || h.Status != domain.HealthCheckStatusPass || h.Version == nil {
		t.Fatalf("health: %+v %v", h, err)
	}
	code, body := ts.get(t, "/health")
	var hb map[string]any
	if err := json.Unmarshal(body, &hb); code != 200 || err != nil || hb["status"] != "pass" || hb["version"] != Version || hb["name"] == nil {
		t.Fatalf("/health: %d %s", code, body)
	}

	org, err := c.OrganizationsAPI().FindOrganizationByName(ctx, "my-org")
	if err != nil || org.Name != "my-org" || org.Id == nil {
		t.Fatalf("find org: %+v %v", org, err)
	}
	orgs, err := c.OrganizationsAPI().GetOrganizations(ctx)
	if err != nil || len(*orgs) != 1 {
		t.Fatalf("orgs: %v %v", orgs, err)
	}
	created, err := c.OrganizationsAPI().CreateOrganizationWithName(ctx, "other")
	if err != nil || created.Name != "other" {
		t.Fatalf("create org: %+v %v", created, err)
	}

	b, err := c.BucketsAPI().CreateBucketWithName(ctx, org, "metrics", domain.RetentionRule{EverySeconds: 7 * 86400})
	if err != nil || b.Name != "metrics" || len(b.RetentionRules) != 1 || b.RetentionRules[0].EverySeconds != 7*86400 {
		t.Fatalf("create bucket: %+v %v", b, err)
	}
	if _, ok := ts.eng.Tables("metrics"); !ok {
		t.Fatal("the bucket is no database")
	}
	if d, _, _ := ts.eng.Retention("metrics"); d.Hours() != 7*24 {
		t.Fatalf("retention %s, want 168h", d)
	}
	if _, err := c.BucketsAPI().CreateBucketWithName(ctx, org, "metrics"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second create: %v", err)
	}
	if _, err := c.BucketsAPI().CreateBucketWithName(ctx, org, "bad\x00name"); err == nil || !strings.Contains(err.Error(), "NUL byte") {
		t.Fatalf("bad name: %v", err)
	}
	ts.post(t, "/api/v2/write?bucket=second", "cpu v=1")
	got, err := c.BucketsAPI().FindBucketByName(ctx, "second")
	if err != nil || got.Name != "second" || len(got.RetentionRules) != 0 {
		t.Fatalf("find bucket: %+v %v", got, err)
	}
	if _, err := c.BucketsAPI().FindBucketByName(ctx, "absent"); err == nil {
		t.Fatal("found a bucket that does not exist")
	}
	all, err := c.BucketsAPI().GetBuckets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range *all {
		names = append(names, b.Name)
	}
	if strings.Join(names, ",") != strings.Join(ts.eng.Databases(), ",") {
		t.Fatalf("buckets %v, databases %v", names, ts.eng.Databases())
	}
	for _, p := range []string{"/api/v2/buckets?limit=0", "/api/v2/buckets?offset=-1", "/api/v2/buckets?limit=x"} {
		if code, body := ts.get(t, p); code != 400 || !strings.Contains(string(body), `"message"`) {
			t.Errorf("%s: %d %s", p, code, body)
		}
	}
}
