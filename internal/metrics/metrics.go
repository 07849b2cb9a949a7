package metrics

import (
	"context"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the collectors of one switchhook process.
type Metrics struct {
	Registry *prometheus.Registry

	// EventsIn counts recorded events by kind and source.
	EventsIn *prometheus.CounterVec
	// Deliveries counts finished attempts by endpoint and outcome
	// (succeeded, retry, failed).
	Deliveries *prometheus.CounterVec
	// AttemptLatency is the time from sending a request to its response.
	AttemptLatency *prometheus.HistogramVec
	// EventToDelivery is the time from an event's occurrence to the request
	// that delivered it successfully.
	EventToDelivery prometheus.Histogram
	// EventsRefused counts call events of a connector that broke the rules
	// of a call's life and were dropped, by kind and source.
	EventsRefused *prometheus.CounterVec
	// SourceBacklog is how many frames or messages read from an engine
	// wait to be tracked and recorded.
	SourceBacklog *prometheus.GaugeVec
	// SourceConnected is 1 while a call source (PBX engine connection) is up.
	SourceConnected *prometheus.GaugeVec
	// QueueWaiting is how many callers wait in each call queue.
	QueueWaiting *prometheus.GaugeVec
	// QueueWait is how long callers waited in a queue, until an agent
	// answered or they left.
	QueueWait *prometheus.HistogramVec
	// QueueCalls counts the callers that left each queue, by outcome
	// (answered, abandoned, overflow).
	QueueCalls *prometheus.CounterVec
}

// New makes the collectors and registers them, with the Go and process
// collectors, on a fresh registry. queueDepth is read at each scrape.
func New(queueDepth func(context.Context) (int, error)) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		EventsIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchhook_events_total", Help: "Call events recorded, by kind and source.",
		}, []string{"event", "source"}),
		Deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchhook_delivery_attempts_total", Help: "Delivery attempts, by endpoint and outcome (succeeded, retry, failed).",
		}, []string{"endpoint", "outcome"}),
		AttemptLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "switchhook_attempt_duration_seconds", Help: "Time from sending a webhook request to its response.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"endpoint"}),
		EventToDelivery: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "switchhook_event_to_delivery_seconds", Help: "Time from an event's occurrence to its successful delivery.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 20),
		}),
		EventsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchhook_events_refused_total", Help: "Call events of a connector refused by the rules of a call's life and dropped, by kind and source.",
		}, []string{"event", "source"}),
		SourceBacklog: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "switchhook_source_backlog", Help: "Frames or messages read from a call source's engine that wait to be tracked and recorded.",
		}, []string{"source"}),
		SourceConnected: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "switchhook_source_connected", Help: "1 while a call source is connected to its engine.",
		}, []string{"source"}),
		QueueWaiting: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "switchhook_call_queue_callers_waiting", Help: "Callers waiting in a call queue.",
		}, []string{"queue"}),
		QueueWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "switchhook_call_queue_wait_seconds", Help: "Time callers waited in a call queue, until an agent answered or they left.",
			Buckets: []float64{1, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600},
		}, []string{"queue"}),
		QueueCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchhook_call_queue_calls_total", Help: "Callers that left a call queue, by outcome (answered, abandoned, overflow).",
		}, []string{"queue", "outcome"}),
	}
	reg.MustRegister(m.EventsIn, m.Deliveries, m.AttemptLatency, m.EventToDelivery, m.EventsRefused, m.SourceBacklog, m.SourceConnected,
		m.QueueWaiting, m.QueueWait, m.QueueCalls,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if queueDepth != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "switchhook_queue_depth", Help: "Pending deliveries.",
		}, func() float64 {
			n, err := queueDepth(context.Background())
			if err != nil {
				return -1
			}
			return float64(n)
		}))
	}
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}
