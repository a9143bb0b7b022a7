package stream

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
)

// DeadMessage is a message that could not be ingested, with why.
type DeadMessage struct {
	Source string            `json:"source"` // "kafka/<topic>/<partition>" or "nats/<stream>/<consumer>"
	Offset int64             `json:"offset"` // Kafka offset or JetStream stream sequence
	Key    []byte            `json:"key,omitempty"`
	Value  []byte            `json:"value"` // base64 in the file (JSON []byte)
	Header map[string]string `json:"headers,omitempty"`
	Code   string            `json:"code"`
	Reason string            `json:"reason"`
	Time   int64             `json:"time"` // message timestamp, ns
}

// DeadLetter receives messages that could not be ingested. Send returns
// once the messages are stored; it is called from one goroutine per source.
type DeadLetter interface {
	Send(msgs []DeadMessage) error
	Close() error
}

// FileDeadLetter appends dead messages to a file as JSON lines, fsynced
// before Send returns.
type FileDeadLetter struct {
	mu  sync.Mutex
	f   *os.File
	buf []byte
}

var _ DeadLetter = (*FileDeadLetter)(nil)

// OpenFileDeadLetter opens (creating) path for appending.
func OpenFileDeadLetter(path string) (*FileDeadLetter, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open dead-letter file: %w", err)
	}
	return &FileDeadLetter{f: f}, nil
}

// Send implements DeadLetter.
func (d *FileDeadLetter) Send(msgs []DeadMessage) error {
	if len(msgs) == 0 {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.buf = d.buf[:0]
	for i := range msgs {
		raw, err := json.Marshal(&msgs[i])
		if err != nil {
			return fmt.Errorf("encode dead letter: %w", err)
		}
		d.buf = append(append(d.buf, raw...), '\n')
	}
	if _, err := d.f.Write(d.buf); err != nil {
		return fmt.Errorf("write dead-letter file %s: %w", d.f.Name(), err)
	}
	if err := d.f.Sync(); err != nil {
		return fmt.Errorf("fsync dead-letter file %s: %w", d.f.Name(), err)
	}
	return nil
}

// Close implements DeadLetter.
func (d *FileDeadLetter) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.f.Close()
}
