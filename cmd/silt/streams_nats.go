package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/engine"
	siltnats "github.com/siltdb/silt/ingest/nats"
	"github.com/siltdb/silt/ingest/stream"
)

type natsFlags struct {
	url, streamName, consumer, subject, format, db, table, precision, deadLetter string
	user, password, token, creds, tlsCA                                          string
	batch                                                                        int
	ackWait                                                                      time.Duration
}

func addNATSFlags(fs *flag.FlagSet, n *natsFlags) {
	fs.StringVar(&n.url, "nats.url", "", "NATS server URL(s), comma separated (nats://host:4222); enables the JetStream source")
	fs.StringVar(&n.streamName, "nats.stream", "", "JetStream stream to consume")
	fs.StringVar(&n.consumer, "nats.consumer", "silt", "durable pull consumer name (created if missing); one per Silt instance")
	fs.StringVar(&n.subject, "nats.subject", "", "filter subject of the consumer (default: every subject of the stream)")
	fs.StringVar(&n.format, "nats.format", "line", "message format: line or json")
	fs.StringVar(&n.db, "nats.db", "", "database for the rows, unless a message header 'db' names another")
	fs.StringVar(&n.table, "nats.table", "", "table of JSON rows that name none")
	fs.StringVar(&n.precision, "nats.precision", "ns", "unit of timestamps in the messages: ns, us, ms, s")
	fs.StringVar(&n.deadLetter, "nats.dead-letter", "", "where undecodable messages go: subject:NAME (captured by a stream) or file:PATH (default file:<data-dir>/nats-dead-letter.ndjson)")
	fs.StringVar(&n.user, "nats.user", "", "NATS user")
	fs.StringVar(&n.password, "nats.password", "", "NATS password")
	fs.StringVar(&n.token, "nats.token", "", "NATS token")
	fs.StringVar(&n.creds, "nats.creds", "", "NATS credentials file (JWT + seed)")
	fs.StringVar(&n.tlsCA, "nats.tls-ca", "", "PEM file of CA certificates to trust for TLS")
	fs.IntVar(&n.batch, "nats.batch", 5000, "messages per fetch (one WAL record per database)")
	fs.DurationVar(&n.ackWait, "nats.ack-wait", 30*time.Second, "ack wait of a consumer Silt creates")
}

func natsConfig(n *natsFlags, dataDir string) (siltnats.Config, error) {
	prec, err := columnar.ParsePrecision(n.precision)
	if err != nil {
		return siltnats.Config{}, fmt.Errorf("--nats.precision: %w", err)
	}
	dl := n.deadLetter
	if dl == "" {
		dl = "file:" + filepath.Join(dataDir, "nats-dead-letter.ndjson")
	}
	var opts []nats.Option
	if n.user != "" {
		opts = append(opts, nats.UserInfo(n.user, n.password))
	}
	if n.token != "" {
		opts = append(opts, nats.Token(n.token))
	}
	if n.creds != "" {
		opts = append(opts, nats.UserCredentials(n.creds))
	}
	if n.tlsCA != "" {
		opts = append(opts, nats.RootCAs(n.tlsCA))
	}
	return siltnats.Config{URL: n.url, Stream: n.streamName, Consumer: n.consumer, Subject: n.subject,
		Format: stream.Format(n.format), DB: n.db, Table: n.table, Precision: prec, DeadLetter: dl,
		Batch: n.batch, AckWait: n.ackWait, Options: opts}, nil
}

func startNATS(n *natsFlags, eng *engine.Engine, dataDir string, log *slog.Logger,
	run func(string, func(context.Context) error, func() error)) error {
	if n.url == "" {
		return nil
	}
	cfg, err := natsConfig(n, dataDir)
	if err != nil {
		return err
	}
	cfg.MaxLineBytes = eng.Config().Limits.MaxLineBytes
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := siltnats.New(ctx, cfg, eng, eng.Metrics().Registry, log)
	if err != nil {
		return err
	}
	run("nats", c.Run, c.Close)
	log.Info("nats source started", "url", n.url, "stream", n.streamName, "consumer", n.consumer, "db", n.db, "dead_letter", cfg.DeadLetter)
	return nil
}
