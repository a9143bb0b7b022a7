package kafka

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	messages    *prometheus.CounterVec // by topic
	deadLetters *prometheus.CounterVec // by topic, code
	fetchErrors prometheus.Counter
	pauses      prometheus.Counter
	lag         *prometheus.GaugeVec // by topic, partition
	offset      *prometheus.GaugeVec
	paused      *prometheus.GaugeVec

	unconfirmedFlushes prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "silt_kafka_messages_total", Help: "Kafka messages consumed (each exactly once into the WAL, or to the dead letter)."}, []string{"topic"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "silt_kafka_dead_letters_total", Help: "Kafka messages sent to the dead letter, by reason code."}, []string{"topic", "code"}),
		fetchErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "silt_kafka_fetch_errors_total", Help: "Errors reported by Kafka fetches (retried by the client)."}),
		pauses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "silt_kafka_backpressure_pauses_total", Help: "Times Kafka partitions were paused because the head was full."}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "silt_kafka_partition_lag", Help: "Messages between the partition's high watermark and Silt's durable position (as of the last fetch)."}, []string{"topic", "partition"}),
		offset: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "silt_kafka_partition_offset", Help: "Silt's durable position in the partition: the next offset to consume."}, []string{"topic", "partition"}),
		paused: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "silt_kafka_partition_paused", Help: "1 while the partition is paused by backpressure."}, []string{"topic", "partition"}),
		unconfirmedFlushes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "silt_kafka_unconfirmed_flushes_total", Help: "Flushes that made rows permanent before the group confirmed their positions (a kill -9 before the next commit then leaves those rows on two nodes)."}),
	}
	if reg != nil {
		reg.MustRegister(m.messages, m.deadLetters, m.fetchErrors, m.pauses, m.lag, m.offset, m.paused, m.unconfirmedFlushes)
	}
	return m
}

func (m *metrics) observe(topic string, p int32, st *partState) {
	ps := strconv.Itoa(int(p))
	m.offset.WithLabelValues(topic, ps).Set(float64(st.next))
	if st.hw >= 0 {
		m.lag.WithLabelValues(topic, ps).Set(float64(max(st.hw-st.next, 0)))
	}
	v := 0.0
	if st.paused {
		v = 1
	}
	m.paused.WithLabelValues(topic, ps).Set(v)
}

func (m *metrics) forget(topic string, p int32) {
	ps := strconv.Itoa(int(p))
	m.lag.DeleteLabelValues(topic, ps)
	m.offset.DeleteLabelValues(topic, ps)
	m.paused.DeleteLabelValues(topic, ps)
}
