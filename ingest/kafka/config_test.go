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
	f(func(c *Config) { c.DB = "\xff\xfe" }, "not valid UTF-8")
	f(func(c *Config) { c.DB = strings.Repeat("/", 100) }, "once escaped")
	f(func(c *Config) { c.Table = strings.Repeat("/", 100) }, "table name")
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
