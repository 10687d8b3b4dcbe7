package api

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/or3/syncd/engine"
)

// Metrics are the Prometheus metrics /metrics serves, in a registry of
// their own (so tests can run several servers in one process).
type Metrics struct {
	reg *prometheus.Registry

	requests      *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	pushOps       *prometheus.CounterVec
	commitBatches prometheus.Histogram
	commitBytes   prometheus.Histogram
	commitSeconds prometheus.Histogram
	commitErrors  prometheus.Counter

	watchersOnce sync.Once
}

// NewMetrics returns the metrics with the Go runtime and process
// collectors registered.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncd_http_requests_total",
			Help: "HTTP requests answered, by route, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "syncd_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request (a watch stream: its whole life), by route and status.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "status"}),
		pushOps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncd_push_ops_total",
			Help: "Ops answered by push, by outcome: applied (won the merge), lost (logged, lost LWW), replayed, rejected (per-op error).",
		}, []string{"outcome"}),
		commitBatches: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "syncd_log_group_commit_batches",
			Help:    "Writer batches per group commit (how many requests shared one fsync).",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024},
		}),
		commitBytes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "syncd_log_group_commit_bytes",
			Help:    "Bytes written per group commit.",
			Buckets: prometheus.ExponentialBuckets(256, 4, 10),
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "syncd_log_fsync_seconds",
			Help:    "Duration of a group commit's synced Pebble apply, fsync included.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "syncd_log_commit_errors_total",
			Help: "Group commits that failed (the store turns unhealthy until it recovers).",
		}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.latency, m.pushOps,
		m.commitBatches, m.commitBytes, m.commitSeconds, m.commitErrors,
	)
	return m
}

// Registry is the registry /metrics serves; other modules may register
// their collectors in it.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ObserveCommit records one group commit of the log (wired to
// log.Config.OnCommit). It does not block.
func (m *Metrics) ObserveCommit(batches, bytes int, d time.Duration, err error) {
	if err != nil {
		m.commitErrors.Inc()
		return
	}
	m.commitBatches.Observe(float64(batches))
	m.commitBytes.Observe(float64(bytes))
	m.commitSeconds.Observe(d.Seconds())
}

func (m *Metrics) watchWatchers(n func() int) {
	m.watchersOnce.Do(func() {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "syncd_watchers",
			Help: "Open watch streams (SSE and WebSocket).",
		}, func() float64 { return float64(n()) }))
	})
}

func (m *Metrics) observeRequest(route, method string, status int, d time.Duration) {
	if method != http.MethodGet && method != http.MethodPost && method != http.MethodHead {
		method = "other" // bound the label's cardinality
	}
	st := strconv.Itoa(status)
	m.requests.WithLabelValues(route, method, st).Inc()
	m.latency.WithLabelValues(route, st).Observe(d.Seconds())
}

func (m *Metrics) observePush(res *engine.PushResult) {
	var applied, lost, replayed, rejected float64
	for i := range res.Results {
		r := &res.Results[i]
		switch {
		case !r.Success:
			rejected++
		case r.Replayed:
			replayed++
		case r.Applied != nil && !*r.Applied:
			lost++
		default:
			applied++
		}
	}
	m.pushOps.WithLabelValues("applied").Add(applied)
	m.pushOps.WithLabelValues("lost").Add(lost)
	m.pushOps.WithLabelValues("replayed").Add(replayed)
	m.pushOps.WithLabelValues("rejected").Add(rejected)
}

func (m *Metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
