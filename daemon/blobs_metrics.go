package daemon

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/or3/syncd/blobs"
)

// blobSweepCollector exports the abandoned-upload sweep's counters.
type blobSweepCollector struct{ g *blobs.Gateway }

var (
	blobSweepRuns = prometheus.NewDesc("syncd_blob_sweep_runs_total",
		"Abandoned-upload sweeps run.", nil, nil)
	blobSweepFailures = prometheus.NewDesc("syncd_blob_sweep_failures_total",
		"Abandoned-upload sweeps that stopped early (object store or log unavailable); the rest waits for the next one.", nil, nil)
	blobSweepRemoved = prometheus.NewDesc("syncd_blob_sweep_removed_total",
		"Uploads removed by the sweep: kind=object (uploaded, never committed) or partial (temp files, incomplete multipart uploads).", []string{"kind"}, nil)
	blobSweepKept = prometheus.NewDesc("syncd_blob_sweep_kept_total",
		"Due uploads the sweep kept because a commit claimed them.", nil, nil)
)

func (c blobSweepCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{blobSweepRuns, blobSweepFailures, blobSweepRemoved, blobSweepKept} {
		ch <- d
	}
}

func (c blobSweepCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.g.SweepStats()
	ch <- prometheus.MustNewConstMetric(blobSweepRuns, prometheus.CounterValue, float64(st.Runs))
	ch <- prometheus.MustNewConstMetric(blobSweepFailures, prometheus.CounterValue, float64(st.Failures))
	ch <- prometheus.MustNewConstMetric(blobSweepRemoved, prometheus.CounterValue, float64(st.Deleted), "object")
	ch <- prometheus.MustNewConstMetric(blobSweepRemoved, prometheus.CounterValue, float64(st.Partial), "partial")
	ch <- prometheus.MustNewConstMetric(blobSweepKept, prometheus.CounterValue, float64(st.Kept))
}
