package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/ingest/kafka"
	siltnats "github.com/siltdb/silt/ingest/nats"
)

// runningStreams are the started stream consumers.
type runningStreams struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	failed chan error // a consumer stopped with an error
	closes []func() error
	// stopping is set when stop begins: a fenced Kafka source then does
	// not restart the process (restart.go).
	stopping atomic.Bool
}

// startStreams starts the configured consumers on a recovered engine;
// handover is the Kafka source's engine hooks, made before recovery.
func startStreams(cfg *serveConfig, handover *kafka.Handover, eng *engine.Engine, log *slog.Logger) (*runningStreams, error) {
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningStreams{cancel: cancel, failed: make(chan error, 2)}
	run := func(name string, fn func(context.Context) error, closeFn func() error) {
		r.closes = append(r.closes, closeFn)
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			if err := fn(ctx); err != nil {
				r.failed <- fmt.Errorf("%s source: %w", name, err)
			}
		}()
	}
	if k := cfg.kafka; k.Enabled() {
		k.Handover = handover
		k.OnFenced = onFenced(log, &r.stopping)
		k.MaxLineBytes = eng.Config().Limits.MaxLineBytes
		c, err := kafka.New(k, eng, eng.Metrics().Registry, log)
		if err != nil {
			return r, err
		}
		run("kafka", c.Run, c.Close)
		log.Info("kafka source started", "brokers", strings.Join(k.Brokers, ","), "topics", strings.Join(k.Topics, ","),
			"group", k.Group, "db", k.DB, "dead_letter", k.DeadLetter)
	}
	if n := cfg.nats; n.Enabled() {
		n.MaxLineBytes = eng.Config().Limits.MaxLineBytes
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := siltnats.New(ctx, n, eng, eng.Metrics().Registry, log)
		if err != nil {
			return r, err
		}
		run("nats", c.Run, c.Close)
		log.Info("nats source started", "url", n.URL, "stream", n.Stream, "consumer", n.Consumer, "db", n.DB, "dead_letter", n.DeadLetter)
	}
	return r, nil
}

// stop ends the consumers (their last writes finish first) and commits
// their positions upstream. The engine is closed after.
func (r *runningStreams) stop() error {
	if r == nil {
		return nil
	}
	r.stopping.Store(true)
	r.cancel()
	r.wg.Wait()
	var errs []error
	for _, c := range r.closes {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}
