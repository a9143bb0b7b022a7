package kafka

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/siltdb/silt/columnar"
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
	f(func(c *Config) { c.Brokers = nil }, "no brokers")
	f(func(c *Config) { c.Topics = nil }, "no topics")
	f(func(c *Config) { c.Group = "" }, "no consumer group")
	f(func(c *Config) { c.DB = "" }, "no database")
	f(func(c *Config) { c.Format = "xml" }, "format")
	f(func(c *Config) { c.DeadLetter = "t" }, "also consumed")
	f(func(c *Config) { c.DB = "\xff\xfe" }, "not valid UTF-8")
	f(func(c *Config) { c.DB = strings.Repeat("/", 100) }, "once escaped")
	f(func(c *Config) { c.Table = strings.Repeat("/", 100) }, "table name")
	f(func(c *Config) { c.DeadLetter = "" }, "no dead letter")
	f(func(c *Config) { c.SASLMechanism = "gssapi" }, "SASL mechanism")
	f(func(c *Config) { c.SessionTimeout = -time.Second }, "must not be negative")
	c := ok
	c.SASLMechanism = "gssapi"
	if _, err := c.clientOpts(); err == nil || !strings.Contains(err.Error(), "SASL mechanism") {
		t.Errorf("unknown SASL mechanism: %v", err)
	}
	c = ok
	c.TLSCA = "/nonexistent/ca.pem"
	if _, err := c.clientOpts(); err == nil || !strings.Contains(err.Error(), "TLS CA file") {
		t.Errorf("missing CA file: %v", err)
	}
	// A library's errors name its settings, not the flags of a CLI.
	for _, bad := range []Config{{}, {Brokers: ok.Brokers}, {Brokers: ok.Brokers, Topics: ok.Topics, Group: "g", DB: "d", DeadLetter: "file:/x", Format: "xml"}} {
		if err := bad.Validate(); err == nil || strings.Contains(err.Error(), "--") {
			t.Errorf("Validate(%+v) = %v, want an error naming no flag", bad, err)
		}
	}
}

// RegisterFlags fills the defaults silt serve documents and parses the
// flags into the Config.
func TestRegisterFlags(t *testing.T) {
	var c Config
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if c.Group != "silt" || c.ClientID != "silt" || c.Format != stream.FormatLine || c.Precision != columnar.Nanosecond ||
		c.MaxPollRecords != 10000 || c.FetchMaxBytes != 16<<20 || c.SessionTimeout != 45*time.Second ||
		c.RebalanceTimeout != time.Minute || c.ReplayWait != time.Minute || c.Enabled() {
		t.Fatalf("defaults: %+v", c)
	}
	err := fs.Parse([]string{"--kafka.brokers", "a:9092, b:9092", "--kafka.topics", "t1,t2", "--kafka.db", "d",
		"--kafka.precision", "ms", "--kafka.fetch-max-bytes", "1MiB", "--kafka.replay-wait", "0"})
	if err != nil {
		t.Fatal(err)
	}
	c.DefaultDeadLetter("/data")
	if !c.Enabled() || len(c.Brokers) != 2 || c.Brokers[1] != "b:9092" || len(c.Topics) != 2 || c.Precision != columnar.Millisecond ||
		c.FetchMaxBytes != 1<<20 || c.DeadLetter != "file:/data/kafka-dead-letter.ndjson" || c.HandoverWait() >= 0 {
		t.Fatalf("parsed: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
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

// selfSigned returns a TLS server config for 127.0.0.1 and the PEM of its
// certificate (its own CA).
func selfSigned(t *testing.T) (*tls.Config, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kfake"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// --kafka.tls-ca reaches the client: with the CA the consumer reads over
// TLS; without TLS it reads nothing.
func TestTLSPassthrough(t *testing.T) {
	srvTLS, caPEM := selfSigned(t)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topic), kfake.TLS(srvTLS),
		kfake.GroupMinSessionTimeout(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	prod, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic),
		kgo.DialTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if err := prod.ProduceSync(context.Background(), &kgo.Record{Value: []byte("cpu v=1 1")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for _, ca := range []string{"", caFile} {
		dir := t.TempDir()
		e := openEngine(t, dir)
		cfg := testConfig(brokers, dir)
		cfg.TLSCA = ca
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
		if want := map[bool]int{false: 0, true: 1}[ca != ""]; got != want {
			t.Errorf("tls-ca %q: %d partitions consumed, want %d", ca, got, want)
		}
	}
}
