package nats

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	messages, redelivered, fetchErrors, pauses prometheus.Counter
	deadLetters                                *prometheus.CounterVec
	pending, ackPending, position, paused      prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, streamName, consumer string) *metrics {
	l := prometheus.Labels{"stream": streamName, "consumer": consumer}
	m := &metrics{
		messages: prometheus.NewCounter(prometheus.CounterOpts{ConstLabels: l,
			Name: "silt_nats_messages_total", Help: "JetStream messages consumed (written once, or dead-lettered)."}),
		redelivered: prometheus.NewCounter(prometheus.CounterOpts{ConstLabels: l,
			Name: "silt_nats_redelivered_skipped_total", Help: "Redelivered messages already durable in Silt, acknowledged without writing."}),
		fetchErrors: prometheus.NewCounter(prometheus.CounterOpts{ConstLabels: l,
			Name: "silt_nats_fetch_errors_total", Help: "Failed JetStream fetches (retried)."}),
		pauses: prometheus.NewCounter(prometheus.CounterOpts{ConstLabels: l,
			Name: "silt_nats_backpressure_pauses_total", Help: "Times fetching stopped because the head was full."}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{ConstLabels: l,
			Name: "silt_nats_dead_letters_total", Help: "JetStream messages sent to the dead letter, by reason code."}, []string{"code"}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{ConstLabels: l,
			Name: "silt_nats_pending", Help: "Messages of the stream not yet delivered to the consumer (lag)."}),
		ackPending: prometheus.NewGauge(prometheus.GaugeOpts{ConstLabels: l,
			Name: "silt_nats_ack_pending", Help: "Messages delivered and not yet acknowledged."}),
		position: prometheus.NewGauge(prometheus.GaugeOpts{ConstLabels: l,
			Name: "silt_nats_position", Help: "Silt's durable position: the next stream sequence to write."}),
		paused: prometheus.NewGauge(prometheus.GaugeOpts{ConstLabels: l,
			Name: "silt_nats_paused", Help: "1 while fetching is stopped by backpressure."}),
	}
	if reg != nil {
		reg.MustRegister(m.messages, m.redelivered, m.fetchErrors, m.pauses, m.deadLetters,
			m.pending, m.ackPending, m.position, m.paused)
	}
	return m
}
