// Command devkafka runs an in-memory Kafka broker (franz-go's kfake) for
// trying Silt's Kafka consumption and its cluster on one machine (`make
// cluster`): one topic with a few partitions, optionally seeded with
// line-protocol records, until interrupted. It is a development tool, not
// a Kafka: nothing is kept after it stops.
//
//	go run ./internal/devkafka -port 9092 -topic metrics -partitions 6 -seed 60000
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	port := flag.Int("port", 9092, "the broker's port on 127.0.0.1")
	topic := flag.String("topic", "metrics", "the topic to create")
	partitions := flag.Int("partitions", 6, "the topic's partitions")
	seed := flag.Int("seed", 0, "line-protocol records to produce at start: cpu rows of 12 hosts, one a second, ending now")
	flag.Parse()
	if *partitions < 1 {
		log.Fatalf("-partitions %d: need at least 1", *partitions)
	}
	c, err := kfake.NewCluster(kfake.Ports(*port), kfake.SeedTopics(int32(*partitions), *topic))
	if err != nil {
		log.Fatalf("start the broker on port %d: %v", *port, err)
	}
	defer c.Close()
	fmt.Printf("kafka (kfake, in memory) on %s: topic %s with %d partitions\n", c.ListenAddrs()[0], *topic, *partitions)
	if *seed > 0 {
		if err := produce(c.ListenAddrs(), *topic, *seed); err != nil {
			log.Fatalf("seed %d records: %v", *seed, err)
		}
		fmt.Printf("produced %d line-protocol records (table cpu) to %s\n", *seed, *topic)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	<-stop
}

// produce writes n cpu rows: 12 hosts, one row a second each, the last at
// about now, keyed by host so that each host stays in one partition.
func produce(brokers []string, topic string, n int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		return err
	}
	defer cl.Close()
	const hosts = 12
	end := time.Now().Truncate(time.Second)
	first := end.Add(-time.Duration(n/hosts) * time.Second)
	ctx := context.Background()
	for i := range n {
		h := i % hosts
		ts := first.Add(time.Duration(i/hosts) * time.Second)
		line := fmt.Sprintf("cpu,hostname=host_%d,region=r%d usage_user=%d,usage_system=%d %d",
			h, h%3, (i*7+h*13)%100, (i+h)%10, ts.UnixNano())
		cl.Produce(ctx, &kgo.Record{Key: []byte("host_" + strconv.Itoa(h)), Value: []byte(line)}, nil)
	}
	return cl.Flush(ctx)
}
