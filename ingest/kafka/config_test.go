package kafka

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/siltdb/silt/ingest/stream"
)

func TestValidate(t *testing.T) {
	ok := Config{Brokers: []string{"b:9092"}, Topics: []string{"t"}, Group: "g", DB: "d",
		Format: stream.FormatLine, DeadLetter: "file:/x"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	f := func(mod func(*Config), want string) {
		t.Helper()
		c := ok
		mod(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want an error naming %q", err, want)
		}
	}
	f(func(c *Config) { c.Brokers = nil }, "--kafka.brokers")
	f(func(c *Config) { c.Topics = nil }, "--kafka.topics")
	f(func(c *Config) { c.Group = "" }, "--kafka.group")
	f(func(c *Config) { c.DB = "" }, "--kafka.db")
	f(func(c *Config) { c.Format = "xml" }, "--kafka.format")
	f(func(c *Config) { c.DeadLetter = "t" }, "also consumed")
	f(func(c *Config) { c.DeadLetter = "" }, "--kafka.dead-letter")
	c := ok
	c.SASLMechanism = "gssapi"
	if _, err := c.clientOpts(); err == nil || !strings.Contains(err.Error(), "--kafka.sasl-mechanism") {
		t.Errorf("unknown SASL mechanism: %v", err)
	}
	c = ok
	c.TLSCA = "/nonexistent/ca.pem"
	if _, err := c.clientOpts(); err == nil || !strings.Contains(err.Error(), "--kafka.tls-ca") {
		t.Errorf("missing CA file: %v", err)
	}
}

// The SASL settings reach the brokers: with the right SCRAM credentials the
// consumer reads the topic; with a wrong password it reads nothing.
func TestSASLPassthrough(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topic),
		kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "silt", "s3cret"),
		kfake.GroupMinSessionTimeout(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	prod, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic),
		kgo.SASL(scram.Auth{User: "silt", Pass: "s3cret"}.AsSha256Mechanism()))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if err := prod.ProduceSync(context.Background(), &kgo.Record{Value: []byte("cpu v=1 1")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for _, pass := range []string{"wrong", "s3cret"} {
		dir := t.TempDir()
		e := openEngine(t, dir)
		cfg := testConfig(brokers, dir)
		cfg.SASLMechanism, cfg.SASLUser, cfg.SASLPassword = "scram-sha-256", "silt", pass
		r := start(t, cfg, e, false)
		deadline := time.Now().Add(3 * time.Second)
		for time.Now().Before(deadline) && len(e.SourceOffsets("kafka/")) == 0 {
			time.Sleep(20 * time.Millisecond)
		}
		got := len(e.SourceOffsets("kafka/"))
		r.cancel()
		<-r.done
		r.c.cl.Close()
		_ = e.Close()
		if want := map[string]int{"wrong": 0, "s3cret": 1}[pass]; got != want {
			t.Errorf("password %q: %d partitions consumed, want %d", pass, got, want)
		}
	}
}
