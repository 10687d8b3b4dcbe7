package daemon

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/or3/syncd/engine"
	"github.com/or3/syncd/identity"
	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/replica"
)

// newReplica builds the replicator of cfg on the engine: the embedded
// nats-server with JetStream under DataDir/jetstream (or an external NATS),
// the publisher reading the origin index, and the consumers applying
// remote events through engine.ApplyRemote. nil when replication is off.
func newReplica(cfg Config, d *Daemon) (*replica.Replicator, error) {
	if cfg.NoReplication {
		return nil, nil
	}
	r, err := replica.New(replica.Config{
		Region:   cfg.Region,
		StoreDir: filepath.Join(cfg.DataDir, "jetstream"),
		NATSURL:  cfg.NATSURL,
		Listen:   cfg.NATSListen,
		Routes:   cfg.NATSRoutes,
		Source:   replicaSource{d.Engine},
		Sink:     replicaSink{d.Engine},
		Now:      d.Clock.Now,
		Logger:   cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	d.Metrics.Registry().MustRegister(replicaCollector{r})
	// Remote identity events (users, accounts, workspaces, members,
	// invites) fold through identity, so a workspace created in one region
	// is served by every region; other domains (cursors, jobs, webhooks,
	// intents…) stay region-local.
	d.Engine.SetRemoteSystemFold(func(b *synclog.Batch, seq uint64, ev *synclog.SystemEvent) (bool, error) {
		domain, _, _ := strings.Cut(ev.Type, ".")
		if !slices.Contains(identity.Domains, domain) {
			return false, nil
		}
		return true, d.Identity.Fold(b, seq, ev)
	})
	return r, nil
}

// replicaSource adapts engine.ReadOrigin to replica.Source.
type replicaSource struct{ e *engine.Engine }

func (s replicaSource) ReadOrigin(after uint64, max int) ([]replica.Event, error) {
	evs, err := s.e.ReadOrigin(after, max)
	if err != nil {
		return nil, err
	}
	out := make([]replica.Event, len(evs))
	for i, ev := range evs {
		out[i] = replica.Event{Seq: ev.Seq, AtMs: ev.AtMs, Key: ev.Key, Value: ev.Value}
	}
	return out, nil
}

// replicaSink adapts engine.ApplyRemote to replica.Sink.
type replicaSink struct{ e *engine.Engine }

func (s replicaSink) Apply(ctx context.Context, region string, evs []replica.Event) (replica.ApplyResult, error) {
	in := make([]engine.RemoteEvent, len(evs))
	for i, ev := range evs {
		in[i] = engine.RemoteEvent{Seq: ev.Seq, Key: ev.Key, Value: ev.Value}
	}
	st, err := s.e.ApplyRemote(ctx, region, in)
	res := replica.ApplyResult{Rejected: st.Rejected, Last: st.Last}
	if errors.Is(err, engine.ErrOriginGap) {
		err = errors.Join(replica.ErrGap, err)
	}
	return res, err
}

func (s replicaSink) Applied() (map[string]uint64, error) { return s.e.Applied() }

// replicaCollector exports the replication state to /metrics.
type replicaCollector struct{ r *replica.Replicator }

var (
	replLagEvents = prometheus.NewDesc("syncd_replication_lag_events",
		"Events of a remote origin region waiting in the stream, not yet applied here.", []string{"origin"}, nil)
	replLagSeconds = prometheus.NewDesc("syncd_replication_lag_seconds",
		"Age (origin receipt time) of the last applied event of a remote origin while events wait; 0 when caught up.", []string{"origin"}, nil)
	replApplied = prometheus.NewDesc("syncd_replication_applied_seq",
		"Highest origin sequence of a remote region applied here.", []string{"origin"}, nil)
	replPublished = prometheus.NewDesc("syncd_replication_published_seq",
		"Highest origin sequence of this region published to JetStream.", nil, nil)
	replRejected = prometheus.NewDesc("syncd_replication_rejected_total",
		"Malformed or foreign replication messages rejected (never applied).", nil, nil)
	replPubErrors = prometheus.NewDesc("syncd_replication_publish_errors_total",
		"Publish rounds that failed (JetStream unreachable); the events wait in the log.", nil, nil)
)

func (c replicaCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{replLagEvents, replLagSeconds, replApplied, replPublished, replRejected, replPubErrors} {
		ch <- d
	}
}

func (c replicaCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.r.Status()
	ch <- prometheus.MustNewConstMetric(replPublished, prometheus.GaugeValue, float64(st.Published))
	ch <- prometheus.MustNewConstMetric(replRejected, prometheus.CounterValue, float64(st.Rejected))
	ch <- prometheus.MustNewConstMetric(replPubErrors, prometheus.CounterValue, float64(st.PublishErrors))
	for _, o := range st.Origins {
		ch <- prometheus.MustNewConstMetric(replLagEvents, prometheus.GaugeValue, float64(o.LagEvents), o.Region)
		ch <- prometheus.MustNewConstMetric(replLagSeconds, prometheus.GaugeValue, o.LagSeconds, o.Region)
		ch <- prometheus.MustNewConstMetric(replApplied, prometheus.GaugeValue, float64(o.Applied), o.Region)
	}
}

// replicationStatus is the replication part of /v1/admin/status.
func (d *Daemon) replicationStatus() (state string, lagMs *int64, detail any) {
	r := d.repl.Load()
	if r == nil {
		return "n/a", nil, nil
	}
	st := r.Status()
	state = "ok"
	if !st.Connected {
		state = "disconnected"
	}
	var worst int64
	for _, o := range st.Origins {
		worst = max(worst, int64(o.LagSeconds*1000))
	}
	if len(st.Origins) > 0 {
		lagMs = &worst
	}
	return state, lagMs, st
}
