package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Source reads the events this region accepted, by origin sequence, from
// the durable view (engine.ReadOrigin, adapted in daemon/).
type Source interface {
	// ReadOrigin returns up to max events with sequence > after, in order.
	// Region is filled in by the replicator.
	ReadOrigin(after uint64, max int) ([]Event, error)
}

// ApplyResult is what a Sink did with a batch of one origin's events.
type ApplyResult struct {
	// Rejected events were malformed: counted, never applied.
	Rejected int
	// Last is the origin's applied sequence after the batch.
	Last uint64
}

// ErrGap is returned by a Sink when a batch skips an origin sequence: what
// preceded the gap was applied (ApplyResult.Last), nothing after it.
var ErrGap = errors.New("replica: gap in origin sequence")

// Sink applies other regions' events (engine.ApplyRemote, adapted in
// daemon/). Apply must be idempotent by (region, seq) and record the
// applied sequence atomically with the events.
type Sink interface {
	Apply(ctx context.Context, region string, evs []Event) (ApplyResult, error)
	// Applied returns how far each remote origin is applied.
	Applied() (map[string]uint64, error)
}

// Config configures a Replicator.
type Config struct {
	// Region names this region (the origin of what it publishes). Required.
	Region string
	// StoreDir is the embedded JetStream store directory. Required unless
	// NATSURL is set.
	StoreDir string
	// NATSURL joins an external NATS cluster instead of running an
	// embedded server.
	NATSURL string
	// Listen is the embedded server's cluster (route) listen address,
	// host:port; "" runs a single node. Routes are the other regions'
	// route URLs (nats-route://host:port or host:port).
	Listen string
	Routes []string
	// Replicas of the stream. Default: 3 when the cluster has at least
	// three nodes (two or more routes), else 1.
	Replicas int
	// Stream and Subject name the JetStream stream and subject prefix.
	// Defaults "SYNCD" and "syncd.ev" (an origin publishes on
	// <Subject>.<region>).
	Stream, Subject string
	// MaxAge bounds how long events stay in the stream (a region down
	// longer must be rebuilt from a backup). Default 7 days.
	MaxAge time.Duration
	// PollEvery is how often the publisher looks for new events without a
	// wake-up (Notify). Default 100 ms. DiscoverEvery is how often new
	// origin regions are looked for and lag is refreshed. Default 1 s.
	PollEvery, DiscoverEvery time.Duration
	// Batch bounds the events per publish round and per apply. Default 512.
	Batch  int
	Source Source
	Sink   Sink
	// Now is the clock lag is measured with (the daemon's). Default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

func (c *Config) validate() error {
	if !ValidRegion(c.Region) {
		return fmt.Errorf("replica: bad region %q", c.Region)
	}
	if c.NATSURL == "" && c.StoreDir == "" {
		return errors.New("replica: Config.StoreDir is required for the embedded server")
	}
	if c.Source == nil || c.Sink == nil {
		return errors.New("replica: Config.Source and Config.Sink are required")
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
		if c.NATSURL == "" && len(c.Routes) >= 2 {
			c.Replicas = 3
		}
	}
	if c.Stream == "" {
		c.Stream = "SYNCD"
	}
	if c.Subject == "" {
		c.Subject = "syncd.ev"
	}
	if c.MaxAge <= 0 {
		c.MaxAge = 7 * 24 * time.Hour
	}
	if c.PollEvery <= 0 {
		c.PollEvery = 100 * time.Millisecond
	}
	if c.DiscoverEvery <= 0 {
		c.DiscoverEvery = time.Second
	}
	if c.Batch <= 0 {
		c.Batch = 512
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// runMax and runBytes bound the events of one message.
const (
	runMax   = 64
	runBytes = 256 << 10
)

// ackEvery is how long an applier may hold back the ack of what it applied
// (one ack then covers every message applied meanwhile).
const ackEvery = 50 * time.Millisecond

// Replicator publishes this region's events to JetStream and applies the
// other regions' events from it.
type Replicator struct {
	cfg Config
	log *slog.Logger
	srv *server.Server // nil with an external NATS
	nc  *nats.Conn
	js  jetstream.JetStream

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	wake   chan struct{}

	published   atomic.Uint64
	publishedOK atomic.Bool // the link to JetStream works
	pubErrors   atomic.Uint64
	rejected    atomic.Uint64
	leader      atomic.Value // string: the stream's leader node (region), from discover

	mu      sync.Mutex
	origins map[string]*origin
}

// origin is the consuming side of one remote region.
type origin struct {
	applied   atomic.Uint64
	pending   atomic.Uint64 // messages in the stream not yet applied (consumer info)
	lastAtMs  atomic.Int64  // origin receipt time of the last applied event
	applyErrs atomic.Uint64
	cons      jetstream.PushConsumer
}

// New starts the embedded server (unless cfg.NATSURL is set), connects,
// and returns a Replicator; Start begins publishing and consuming.
func New(cfg Config) (*Replicator, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	r := &Replicator{cfg: cfg, log: cfg.Logger.With("component", "replica", "region", cfg.Region),
		wake: make(chan struct{}, 1), origins: map[string]*origin{}}
	opts := []nats.Option{nats.Name("syncd-" + cfg.Region), nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond), nats.RetryOnFailedConnect(true)}
	url := cfg.NATSURL
	if url == "" {
		srv, err := startServer(&cfg)
		if err != nil {
			return nil, err
		}
		r.srv = srv
		opts = append(opts, nats.InProcessServer(srv))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		r.shutdownServer()
		return nil, fmt.Errorf("replica: connect: %w", err)
	}
	r.nc = nc
	if r.js, err = jetstream.New(nc); err != nil {
		nc.Close()
		r.shutdownServer()
		return nil, err
	}
	return r, nil
}

func startServer(cfg *Config) (*server.Server, error) {
	o := &server.Options{
		ServerName: cfg.Region,
		DontListen: true, // clients connect in-process
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		MaxPayload: 8 << 20,
		NoSigs:     true,
		NoLog:      true,
	}
	if cfg.Listen != "" {
		host, port, err := net.SplitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("replica: --nats-listen %q: %w", cfg.Listen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("replica: --nats-listen %q: bad port", cfg.Listen)
		}
		o.Cluster = server.ClusterOpts{Name: "syncd", Host: host, Port: p}
		// Routing waits for the client listener: give it a random loopback
		// port (syncd itself still connects in-process).
		o.DontListen, o.Host, o.Port = false, "127.0.0.1", server.RANDOM_PORT
		for _, rt := range cfg.Routes {
			if !strings.Contains(rt, "://") {
				rt = "nats-route://" + rt
			}
			u, err := url.Parse(rt)
			if err != nil {
				return nil, fmt.Errorf("replica: route %q: %w", rt, err)
			}
			o.Routes = append(o.Routes, u)
		}
	}
	srv, err := server.NewServer(o)
	if err != nil {
		return nil, fmt.Errorf("replica: nats server: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, errors.New("replica: embedded nats server did not start")
	}
	return srv, nil
}

func (r *Replicator) shutdownServer() {
	if r.srv != nil {
		r.srv.Shutdown()
		r.srv.WaitForShutdown()
	}
}

// Conn is the replicator's NATS connection (tests publish through it).
func (r *Replicator) Conn() *nats.Conn { return r.nc }

func (r *Replicator) subject(region string) string { return r.cfg.Subject + "." + region }

// Start begins publishing and consuming in the background. Writes never
// wait for it: a region that cannot reach JetStream keeps accepting writes
// (they wait in its log) and publishes when the link returns.
func (r *Replicator) Start() {
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.wg.Add(2)
	go r.publishLoop()
	go r.discoverLoop()
}

// Notify wakes the publisher (call it after every durable commit). It never
// blocks.
func (r *Replicator) Notify() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Close stops publishing and consuming, closes the connection and the
// embedded server. What was applied is committed; what was not is
// redelivered after a restart.
func (r *Replicator) Close() {
	if r.cancel != nil {
		r.cancel()
	}
	r.wg.Wait()
	r.mu.Lock()
	r.mu.Unlock()
	r.nc.Close()
	r.shutdownServer()
}

// streamName is the stream of origin region reg: one stream per origin,
// so that Nats-Expected-Last-Msg-Id can keep each one gap-free and in
// origin order (see publishLoop).
func (r *Replicator) streamName(reg string) string {
	return r.cfg.Stream + "_" + strings.ReplaceAll(reg, ".", "_")
}

// ensureStream creates (or updates) this region's stream, retrying while
// the cluster elects its meta leader.
func (r *Replicator) ensureStream(ctx context.Context) (jetstream.Stream, error) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	name := r.streamName(r.cfg.Region)
	s, err := r.js.Stream(cctx, name)
	if err == nil {
		return s, nil
	}
	return r.js.CreateOrUpdateStream(cctx, jetstream.StreamConfig{
		Name:       name,
		Subjects:   []string{r.subject(r.cfg.Region)},
		Storage:    jetstream.FileStorage,
		Replicas:   r.cfg.Replicas,
		MaxAge:     r.cfg.MaxAge,
		Duplicates: 2 * time.Minute,
	})
}

func (r *Replicator) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-r.ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// publishLoop ships every local event, in origin order, after it is durable
// locally. Where to resume is asked of JetStream (the last message of this
// region's subject), so a restart, or a JetStream that lost its unsynced
// tail, republishes exactly what the stream lacks; Nats-Msg-Id dedupes
// inside the window and consumers are idempotent by sequence regardless.
func (r *Replicator) publishLoop() {
	defer r.wg.Done()
	known := false
	backoff := 100 * time.Millisecond
	tick := time.NewTicker(r.cfg.PollEvery)
	defer tick.Stop()
	// Publishing is pipelined: up to window events wait for their acks
	// while later ones are sent (a serial round would wait one JetStream
	// quorum round trip per batch). published advances in order as acks
	// arrive; sent is the last sequence handed to JetStream.
	type pending struct {
		seq uint64
		f   jetstream.PubAckFuture
	}
	var inflight []pending
	var sent uint64
	// expect is the stream sequence the next publish must follow
	// (Nats-Expected-Last-Sequence). This region's stream holds only its
	// events, so it is known in advance; the leader checks it against what
	// it has proposed before proposing, so a publish pipelined behind one
	// that was lost (its leader died) is refused instead of stored after a
	// hole: the stream stays gap-free and in origin order, which the
	// consumers' AckAll relies on. The failure makes us resume from the
	// stream's last event.
	var expect uint64
	const window = 1024 // messages (nats.go refuses more than 4,000 pending)
	fail := func(what string, err error) {
		r.pubErrors.Add(1)
		r.publishedOK.Store(false)
		r.log.Warn("publish: "+what, "err", err)
		known, inflight = false, nil
		r.sleep(backoff)
		backoff = min(backoff*2, 5*time.Second)
	}
	for r.ctx.Err() == nil {
		if !known {
			last, streamLast, err := r.lastPublished()
			if err != nil {
				fail("resume point", err)
				continue
			}
			r.published.Store(last)
			sent, known, expect = last, true, streamLast
		}
		// Reap the acks that arrived, in order.
		var ackErr error
	reap:
		for len(inflight) > 0 {
			select {
			case <-inflight[0].f.Ok():
				r.published.Store(inflight[0].seq)
				inflight = inflight[1:]
			case err := <-inflight[0].f.Err():
				ackErr = err
				break reap
			default:
				break reap
			}
		}
		if ackErr != nil {
			fail("publish", ackErr)
			continue
		}
		var evs []Event
		if len(inflight) < window {
			var err error
			if evs, err = r.cfg.Source.ReadOrigin(sent, r.cfg.Batch); err != nil {
				fail("read log", err)
				continue
			}
		}
		if len(evs) == 0 {
			if len(inflight) == 0 {
				r.publishedOK.Store(true)
				backoff = 100 * time.Millisecond
				select {
				case <-r.ctx.Done():
				case <-r.wake:
				case <-tick.C:
				}
				continue
			}
			// Wait for the oldest ack (or new events).
			t := time.NewTimer(5 * time.Second)
			select {
			case <-r.ctx.Done():
			case <-inflight[0].f.Ok():
				r.published.Store(inflight[0].seq)
				inflight = inflight[1:]
			case err := <-inflight[0].f.Err():
				t.Stop()
				fail("publish", err)
				continue
			case <-r.wake:
			case <-t.C:
				fail("publish", errors.New("publish ack timeout"))
			}
			t.Stop()
			continue
		}
		// Events travel in runs (one message: one quorum write, one
		// delivery and one ack per consumer for up to runMax events).
		var perr error
		for len(evs) > 0 {
			n, size := 0, 0
			for n < len(evs) && n < runMax && (n == 0 || size+len(evs[n].Key)+len(evs[n].Value) <= runBytes) {
				evs[n].Region = r.cfg.Region
				size += len(evs[n].Key) + len(evs[n].Value)
				n++
			}
			run := evs[:n]
			evs = evs[n:]
			m := nats.NewMsg(r.subject(r.cfg.Region))
			m.Data = EncodeRun(make([]byte, 0, RunSize(run)), run)
			m.Header.Set(jetstream.MsgIDHeader, r.cfg.Region+":"+strconv.FormatUint(run[0].Seq, 10))
			m.Header.Set(jetstream.ExpectedLastSeqHeader, strconv.FormatUint(expect, 10))
			f, err := r.js.PublishMsgAsync(m)
			if err != nil {
				perr = err
				break
			}
			last := run[n-1].Seq
			inflight = append(inflight, pending{seq: last, f: f})
			sent = last
			expect++
		}
		if perr != nil {
			fail("publish", perr)
			continue
		}
		r.publishedOK.Store(true)
		backoff = 100 * time.Millisecond
	}
}

// lastPublished is the sequence of this region's last event in its stream
// (0 when there is none) and the stream's last sequence.
func (r *Replicator) lastPublished() (last, streamLast uint64, err error) {
	s, err := r.ensureStream(r.ctx)
	if err != nil {
		return 0, 0, err
	}
	ctx, cancel := context.WithTimeout(r.ctx, 5*time.Second)
	defer cancel()
	info, err := s.Info(ctx)
	if err != nil {
		return 0, 0, err
	}
	m, err := s.GetLastMsgForSubject(ctx, r.subject(r.cfg.Region))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, info.State.LastSeq, nil
	}
	if err != nil {
		return 0, 0, err
	}
	evs, err := DecodeRun(m.Data)
	if err != nil || evs[0].Region != r.cfg.Region {
		return 0, 0, fmt.Errorf("replica: last message of %s is malformed", r.subject(r.cfg.Region))
	}
	return evs[len(evs)-1].Seq, max(info.State.LastSeq, m.Sequence), nil
}

// discoverLoop finds origin regions in the stream, starts a durable
// consumer for each remote one, and refreshes the lag figures.
func (r *Replicator) discoverLoop() {
	defer r.wg.Done()
	for {
		if err := r.discover(); err != nil && r.ctx.Err() == nil {
			r.log.Debug("discover", "err", err)
		}
		if !r.sleep(r.cfg.DiscoverEvery) {
			return
		}
	}
}

func (r *Replicator) discover() error {
	if _, err := r.ensureStream(r.ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.ctx, 5*time.Second)
	defer cancel()
	if applied, err := r.cfg.Sink.Applied(); err == nil {
		r.mu.Lock()
		for reg, seq := range applied {
			if o := r.origins[reg]; o != nil && seq > o.applied.Load() {
				o.applied.Store(seq)
			}
		}
		r.mu.Unlock()
	}
	streams := r.js.ListStreams(ctx, jetstream.WithStreamListSubject(r.cfg.Subject+".>"))
	for info := range streams.Info() {
		if len(info.Config.Subjects) != 1 {
			continue
		}
		reg := strings.TrimPrefix(info.Config.Subjects[0], r.cfg.Subject+".")
		if !ValidRegion(reg) || info.Config.Name != r.streamName(reg) {
			continue
		}
		if reg == r.cfg.Region {
			if info.Cluster != nil {
				r.leader.Store(info.Cluster.Leader)
			}
			continue
		}
		r.mu.Lock()
		o := r.origins[reg]
		r.mu.Unlock()
		if o == nil {
			if err := r.startConsumer(reg); err != nil {
				r.log.Warn("consumer", "origin", reg, "err", err)
			}
			continue
		}
		if ci, err := o.cons.Info(ctx); err == nil {
			o.pending.Store(ci.NumPending + uint64(ci.NumAckPending))
		}
	}
	return streams.Err()
}

// consumerName is the durable consumer of origin reg in this region.
func (r *Replicator) consumerName(reg string) string {
	clean := func(s string) string { return strings.ReplaceAll(s, ".", "_") }
	return "syncd-" + clean(r.cfg.Region) + "-from-" + clean(reg)
}

// deliverSubject is where the push consumer of origin reg delivers in this
// region (outside the stream's subjects).
func (r *Replicator) deliverSubject(reg string) string {
	clean := func(s string) string { return strings.ReplaceAll(s, ".", "_") }
	return r.cfg.Subject + "-deliver." + clean(r.cfg.Region) + "." + clean(reg)
}

func (r *Replicator) startConsumer(reg string) error {
	ctx, cancel := context.WithTimeout(r.ctx, 5*time.Second)
	defer cancel()
	// A push consumer with flow control: a replicated pull consumer waits
	// for a quorum on its delivered state before every delivery (one raft
	// round per message: ~100 ms of lag at load on one machine); a
	// flow-controlled push consumer delivers at once and replicates that
	// state asynchronously. After a leader change it may redeliver, which
	// the Sink skips by origin sequence. Flow control is answered as the
	// handler reaches it, so a slow applier slows delivery.
	cfg := jetstream.ConsumerConfig{
		Durable:        r.consumerName(reg),
		DeliverSubject: r.deliverSubject(reg),
		FilterSubject:  r.subject(reg),
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		AckPolicy:      jetstream.AckAllPolicy,
		AckWait:        10 * time.Second,
		MaxAckPending:  8192,
		FlowControl:    true,
		IdleHeartbeat:  5 * time.Second,
		Replicas:       r.cfg.Replicas,
	}
	cons, err := r.js.CreateOrUpdatePushConsumer(ctx, r.streamName(reg), cfg)
	if err != nil {
		return err
	}
	o := &origin{cons: cons}
	if applied, err := r.cfg.Sink.Applied(); err == nil {
		o.applied.Store(applied[reg])
	}
	ch := make(chan jetstream.Msg, 2*r.cfg.Batch)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		select {
		case ch <- m:
		case <-r.ctx.Done():
		}
	}, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		r.log.Debug("consume", "origin", reg, "err", err)
	}))
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.origins[reg] = o
	r.mu.Unlock()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer cc.Stop()
		r.applyLoop(reg, o, ch)
	}()
	return nil
}

// applyLoop applies one origin's messages in batches: everything buffered
// at once, so a busy link amortizes the commit and an idle one applies at
// once.
func (r *Replicator) applyLoop(reg string, o *origin, ch chan jetstream.Msg) {
	type item struct {
		m    jetstream.Msg
		sseq uint64  // stream sequence
		evs  []Event // a run: consecutive sequences
		ok   bool    // decoded, and from reg
	}
	msgs := make([]jetstream.Msg, 0, r.cfg.Batch)
	items := make([]item, 0, r.cfg.Batch)
	evs := make([]Event, 0, r.cfg.Batch)
	var counted uint64 // greatest stream sequence of a rejected message counted
	// Acks are sent at most every ackEvery (AckAll: the latest covers every
	// message before it), not after every apply: each ack is a raft
	// proposal of the replicated consumer's state, and what was applied but
	// not acked when a region stops is redelivered and skipped.
	var unacked jetstream.Msg // the applied message to ack, greatest stream sequence
	var unackedSeq uint64
	ackTimer := time.NewTimer(time.Hour)
	ackTimer.Stop()
	defer ackTimer.Stop()
	sendAck := func() {
		if unacked != nil {
			_ = unacked.Ack()
			unacked = nil
		}
	}
	defer sendAck()
	for {
		msgs, items, evs = msgs[:0], items[:0], evs[:0]
		select {
		case <-r.ctx.Done():
			return
		case <-ackTimer.C:
			sendAck()
			continue
		case m := <-ch:
			msgs = append(msgs, m)
		}
	drain:
		for len(msgs) < max(1, r.cfg.Batch/8) { // messages of up to runMax events
			select {
			case m := <-ch:
				msgs = append(msgs, m)
			default:
				break drain
			}
		}
		for _, m := range msgs {
			it := item{m: m}
			if md, err := m.Metadata(); err == nil {
				it.sseq = md.Sequence.Stream
			}
			run, err := DecodeRun(m.Data())
			if err == nil && run[0].Region == reg {
				it.evs, it.ok = run, true
			} else if it.sseq == 0 || it.sseq > counted {
				// A malformed or foreign message is counted (once, though it
				// is redelivered until an ack above it covers it) and never
				// applied.
				counted = max(counted, it.sseq)
				r.rejected.Add(1)
				r.log.Warn("rejected message", "origin", reg, "subject", m.Subject())
			}
			items = append(items, it)
		}
		// Redeliveries (after a nak or a consumer leader change) arrive out
		// of order: apply in origin order.
		sort.SliceStable(items, func(i, j int) bool {
			if items[i].ok != items[j].ok {
				return items[i].ok
			}
			return items[i].ok && items[i].evs[0].Seq < items[j].evs[0].Seq
		})
		for _, it := range items {
			if it.ok {
				evs = append(evs, it.evs...)
			}
		}
		res, err := r.cfg.Sink.Apply(r.ctx, reg, evs)
		if res.Rejected > 0 {
			r.rejected.Add(uint64(res.Rejected))
		}
		if err != nil {
			o.applyErrs.Add(1)
			if !errors.Is(err, ErrGap) && r.ctx.Err() == nil {
				r.log.Warn("apply", "origin", reg, "err", err)
			}
		}
		if res.Last > o.applied.Load() {
			o.applied.Store(res.Last)
		}
		// Acknowledge (AckAll) up to the applied message with the greatest
		// stream sequence: each origin's stream holds its events gap-free in
		// origin order (publishLoop), so every message below it is applied
		// too. What is not applied yet (a gap: an earlier one is still to
		// be redelivered) is nak'ed; a rejected message is covered by the
		// next ack above it.
		var ack *item
		nak := false
		for i := range items {
			it := &items[i]
			switch {
			case !it.ok:
			case it.evs[len(it.evs)-1].Seq <= res.Last:
				if ack == nil || it.sseq > ack.sseq {
					ack = it
				}
			default:
				nak = true
				_ = it.m.NakWithDelay(200 * time.Millisecond)
			}
		}
		if ack != nil {
			if unacked == nil {
				ackTimer.Reset(ackEvery)
			}
			if unacked == nil || ack.sseq > unackedSeq {
				unacked, unackedSeq = ack.m, ack.sseq
			}
			o.lastAtMs.Store(ack.evs[len(ack.evs)-1].AtMs)
		}
		if nak && !r.sleep(200*time.Millisecond) {
			return
		}
	}
}

// OriginStatus is the replication state of one remote origin here.
type OriginStatus struct {
	Region string `json:"region"`
	// Applied is the origin's highest sequence applied here.
	Applied uint64 `json:"applied"`
	// LagEvents is how many of its events wait in the stream.
	LagEvents uint64 `json:"lagEvents"`
	// LagSeconds is the age (origin receipt time) of the last applied event
	// while events wait, 0 when caught up.
	LagSeconds float64 `json:"lagSeconds"`
}

// Status is the replication state of this region.
type Status struct {
	Region    string `json:"region"`
	Published uint64 `json:"published"`
	// Connected reports whether the last publish round reached JetStream.
	Connected     bool   `json:"connected"`
	PublishErrors uint64 `json:"publishErrors"`
	Rejected      uint64 `json:"rejected"`
	// StreamLeader is the JetStream node (named by region) leading the
	// stream when last looked at ("" before that).
	StreamLeader string         `json:"streamLeader"`
	Origins      []OriginStatus `json:"origins"`
}

// Status reports publishing and, per remote origin, how far it is applied
// and how far behind it is.
func (r *Replicator) Status() Status {
	st := Status{Region: r.cfg.Region, Published: r.published.Load(), Connected: r.publishedOK.Load(),
		PublishErrors: r.pubErrors.Load(), Rejected: r.rejected.Load(), Origins: []OriginStatus{}}
	st.StreamLeader, _ = r.leader.Load().(string)
	now := r.cfg.Now().UnixMilli()
	r.mu.Lock()
	for reg, o := range r.origins {
		os := OriginStatus{Region: reg, Applied: o.applied.Load(), LagEvents: o.pending.Load()}
		if os.LagEvents > 0 {
			if at := o.lastAtMs.Load(); at > 0 && now > at {
				os.LagSeconds = float64(now-at) / 1000
			}
		}
		st.Origins = append(st.Origins, os)
	}
	r.mu.Unlock()
	sort.Slice(st.Origins, func(i, j int) bool { return st.Origins[i].Region < st.Origins[j].Region })
	return st
}
