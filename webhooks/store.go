package webhooks

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/syncerr"
)

// RetryDelays is the wait before each attempt, indexed by attempt − 1
// (side-modules §5.5): attempt 2 waits 30 s, …, attempt 6 waits 1 h.
var RetryDelays = []time.Duration{0, 30 * time.Second, 2 * time.Minute, 10 * time.Minute, 30 * time.Minute, time.Hour}

// MaxAttempts is the most tries a delivery gets.
const MaxAttempts = 6

// Config configures a Store.
type Config struct {
	// DB is the log. Required.
	DB *synclog.DB
	// EncryptionKey encrypts signing secrets at rest (AES-256-GCM under
	// SHA-256 of it). Required; the daemon keeps it in the data dir.
	EncryptionKey string
	// AllowPrivate allows targets on private, loopback and link-local
	// addresses (never metadata endpoints). Default off.
	AllowPrivate bool
	// Now is the clock: receipt, retry and lease times. Default time.Now.
	Now func() time.Time
	// Region names this region; worker ids start with it.
	Region string
	// Client sends deliveries. Default: a client whose dialer refuses
	// private targets (unless AllowPrivate), no proxy, no redirects.
	Client *http.Client
	// DeliveryTimeout bounds one HTTP attempt. Default 10 s.
	DeliveryTimeout time.Duration
	// PollEvery is how often the dispatcher looks for due deliveries
	// besides being woken by new ones. Default 5 s, at least 1 s.
	PollEvery time.Duration
	// ReapEvery and StaleAfter: every ReapEvery, deliveries in flight for
	// longer than StaleAfter go back to pending. Defaults 60 s and 2 min.
	ReapEvery  time.Duration
	StaleAfter time.Duration
	// BatchSize is how many deliveries one dispatcher pass claims, and
	// Concurrency how many it sends at once. Defaults 25 and 4.
	BatchSize   int
	Concurrency int
	// MaxRetry bounds how long after its creation a delivery may still be
	// retried (maxRetryHours). Default 24 h, at least 1 h.
	MaxRetry time.Duration
	// RateLimitPerMinute bounds the deliveries one webhook is given per
	// minute (a fixed 60 s window); beyond it deliveries are logged as
	// cancelled. Default 600; negative means no limit.
	RateLimitPerMinute int
	// LogRetention is how long delivery logs are kept; PurgeEvery how
	// often older ones are deleted. Defaults 30 days and 1 h.
	LogRetention time.Duration
	PurgeEvery   time.Duration
	// QueueSize bounds sync events waiting to be turned into deliveries
	// (they are enqueued off the push path). Default 100,000; beyond it
	// events are dropped and counted.
	QueueSize int
	// OnFailed, if set, is called (off the store's lock) when a delivery
	// fails for good: the failure notification of §5.5 goes to the
	// webhook's user when it has a user and a workspace.
	OnFailed func(w Webhook, d Delivery)
	// Logger. Default slog.Default().
	Logger *slog.Logger
}

func (c *Config) validate() error {
	if c.DB == nil {
		return errors.New("webhooks: Config.DB is required")
	}
	if c.EncryptionKey == "" {
		return errors.New("webhooks: Config.EncryptionKey is required")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Region == "" {
		c.Region = "local"
	}
	if c.DeliveryTimeout <= 0 {
		c.DeliveryTimeout = 10 * time.Second
	}
	if c.PollEvery <= 0 {
		c.PollEvery = 5 * time.Second
	}
	c.PollEvery = max(c.PollEvery, time.Second)
	if c.ReapEvery <= 0 {
		c.ReapEvery = time.Minute
	}
	if c.StaleAfter <= 0 {
		c.StaleAfter = 2 * time.Minute
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 25
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 4
	}
	if c.MaxRetry <= 0 {
		c.MaxRetry = 24 * time.Hour
	}
	c.MaxRetry = max(c.MaxRetry, time.Hour)
	if c.RateLimitPerMinute == 0 {
		c.RateLimitPerMinute = 600
	}
	if c.LogRetention <= 0 {
		c.LogRetention = 30 * 24 * time.Hour
	}
	if c.PurgeEvery <= 0 {
		c.PurgeEvery = time.Hour
	}
	if c.QueueSize <= 0 {
		c.QueueSize = 100_000
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Client == nil {
		c.Client = &http.Client{
			Transport: &http.Transport{
				Proxy:                 nil, // connect to the target itself, so the dialer checks it
				DialContext:           safeDialer(c.AllowPrivate),
				MaxIdleConnsPerHost:   4,
				IdleConnTimeout:       90 * time.Second,
				TLSHandshakeTimeout:   10 * time.Second,
				ResponseHeaderTimeout: c.DeliveryTimeout,
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return nil
}

// activeRef is what the writer keeps in memory of a pending or in-flight
// delivery, to claim and reap without scanning the log.
type activeRef struct {
	webhookID   string
	status      string
	nextRetryMs int64 // -1 when null
	createdMs   int64
	claimedBy   string
	claimedAtMs int64
}

// Store is the WebhookStore of side-modules §5.4 and syncd's own delivery
// worker. Writes are system events under one lock, committed before the
// lock is released, so every conditional write (claims, fenced outcomes,
// the reaper) decides against all earlier ones; reads come from the
// durable view.
type Store struct {
	cfg      Config
	log      *slog.Logger
	workerID string

	mu     sync.Mutex // the write lock; guards the fields below
	hooks  map[string]*Webhook
	active map[string]*activeRef
	where  map[string]string // delivery id → webhook id, for every retained log
	rate   map[string]*rateWindow
	lastMs int64
	seqMs  uint16
	// marks are the durable webhook marks by workspace, pend the progress
	// not yet written, marksAt when marks were last written (catchup.go).
	marks     map[string]uint64
	pend      map[string]uint64
	marksAt   time.Time
	markEvery time.Duration // markFlushEvery; tests make it longer

	enabled atomic.Int64 // enabled registrations (a cheap check on the push path)

	qmu     sync.Mutex
	queue   []SyncChange
	qsig    chan struct{}
	dropped atomic.Int64
	// needCatchUp: the queue may miss applied ops (just opened, it
	// overflowed, or an enqueue failed): read them from the change log
	// first. skipped: progress by workspace while no hook was enabled.
	needCatchUp bool
	skipped     map[string]uint64

	kick   chan struct{}
	stop   chan struct{}
	wg     sync.WaitGroup
	closed sync.Once
}

type rateWindow struct{ startMs, count int64 }

// Open returns a Store over cfg.DB, with its in-memory indexes loaded from
// the durable view. Call Start to run the enqueuer, dispatcher, reaper and
// purge; tests call RunOnce, Reap and Purge themselves instead.
func Open(cfg Config) (*Store, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	s := &Store{
		cfg: cfg, log: cfg.Logger.With("component", "webhooks"),
		workerID: cfg.Region + "/" + hex.EncodeToString(rnd[:]),
		hooks:    map[string]*Webhook{}, active: map[string]*activeRef{}, where: map[string]string{},
		rate: map[string]*rateWindow{}, qsig: make(chan struct{}, 1), kick: make(chan struct{}, 1),
		stop: make(chan struct{}), marks: map[string]uint64{}, pend: map[string]uint64{},
		needCatchUp: true, markEvery: markFlushEvery,
	}
	if err := s.load(); err != nil {
		return nil, err
	}
	if err := s.loadMarks(); err != nil {
		return nil, err
	}
	return s, nil
}

// WorkerID names this process's dispatcher in claimed_by.
func (s *Store) WorkerID() string { return s.workerID }

// Dropped counts sync events dropped because the enqueue queue was full.
func (s *Store) Dropped() int64 { return s.dropped.Load() }

func (s *Store) load() error {
	return s.read(func(v *synclog.View) error {
		lo := []byte{synclog.PrefixWebhook}
		it, err := v.NewIter(lo, synclog.PrefixEnd(lo))
		if err != nil {
			return err
		}
		for ok := it.First(); ok; ok = it.Next() {
			w := new(Webhook)
			if err := synclog.Decode(it.Key(), it.Value(), w); err != nil {
				it.Close()
				return err
			}
			s.hooks[w.ID] = w
			if w.Enabled {
				s.enabled.Add(1)
			}
		}
		if err := it.Close(); err != nil {
			return err
		}
		lo = []byte{synclog.PrefixDelivery}
		it, err = v.NewIter(lo, synclog.PrefixEnd(lo))
		if err != nil {
			return err
		}
		defer it.Close()
		for ok := it.First(); ok; ok = it.Next() {
			var d Delivery
			if err := synclog.Decode(it.Key(), it.Value(), &d); err != nil {
				return err
			}
			s.cacheDelivery(&d)
		}
		return it.Error()
	})
}

// read runs fn against the durable view.
func (s *Store) read(fn func(v *synclog.View) error) error {
	v := s.cfg.DB.View()
	if v == nil {
		return syncerr.Unavailable(synclog.ErrUnhealthy, "Webhook store unavailable")
	}
	defer v.Release()
	return fn(v)
}

// newID returns a version-7 UUID of the store's clock: time-ordered, with
// a counter in the 12 bits after the version so ids made in one
// millisecond keep their order. Call under s.mu.
func (s *Store) newID(ms int64) string {
	if ms <= s.lastMs {
		ms = s.lastMs
		s.seqMs++
	} else {
		s.lastMs, s.seqMs = ms, 0
	}
	var u uuid.UUID
	_, _ = rand.Read(u[8:])
	var t [8]byte
	binary.BigEndian.PutUint64(t[:], uint64(ms))
	copy(u[:6], t[2:])
	u[6] = 0x70 | byte(s.seqMs>>8)&0x0f
	u[7] = byte(s.seqMs)
	u[8] = u[8]&0x3f | 0x80
	return u.String()
}

// txn is one write: events folded into one batch as they are appended,
// and the in-memory index changes to make once the batch is durable.
type txn struct {
	s     *Store
	b     *synclog.Batch
	atMs  int64
	actor string
	after []func()
}

func (t *txn) emit(typ string, body any) error {
	data, err := synclog.Encode(body)
	if err != nil {
		return err
	}
	seq := t.s.cfg.DB.NextSystemSeq()
	ev := &synclog.SystemEvent{Type: typ, AtMs: t.atMs, Actor: t.actor, Body: data}
	if err := t.b.AppendEvent(synclog.SystemKey(seq), ev); err != nil {
		return err
	}
	// What Fold does, without decoding the body again (the hot path: one
	// delivery per webhook per event).
	switch v := body.(type) {
	case *Delivery:
		err = t.b.SetRecord(deliveryKey(v.WebhookID, v.ID), v.stateRecord(seq))
	case *Webhook:
		err = t.b.Set(webhookKey(v.ID), data)
	default:
		err = Fold(t.b, seq, ev)
	}
	if err != nil {
		return err
	}
	t.after = append(t.after, func() { t.s.cacheEvent(typ, body) })
	return nil
}

// write runs fn under the write lock and commits what it emitted; the
// in-memory indexes change only once the batch is durable.
func (s *Store) write(ctx context.Context, actor string, fn func(t *txn) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.cfg.DB.NewBatch()
	defer b.Close()
	t := &txn{s: s, b: b, atMs: s.cfg.Now().UnixMilli(), actor: actor}
	if err := fn(t); err != nil {
		return err
	}
	if b.Empty() {
		return nil
	}
	if err := s.cfg.DB.Commit(ctx, b); err != nil {
		return syncerr.Unavailable(err, "Webhook store unavailable")
	}
	for _, f := range t.after {
		f()
	}
	return nil
}

// cacheEvent mirrors Fold on the in-memory indexes. Call under s.mu.
func (s *Store) cacheEvent(typ string, body any) {
	switch typ {
	case evPut:
		w := body.(*Webhook)
		if old := s.hooks[w.ID]; old != nil && old.Enabled {
			s.enabled.Add(-1)
		}
		cp := *w
		s.hooks[w.ID] = &cp
		if w.Enabled {
			s.enabled.Add(1)
		}
	case evDelete:
		id := body.(*deleteBody).ID
		if old := s.hooks[id]; old != nil && old.Enabled {
			s.enabled.Add(-1)
		}
		delete(s.hooks, id)
		delete(s.rate, id)
		for did, wid := range s.where {
			if wid == id {
				delete(s.where, did)
				delete(s.active, did)
			}
		}
	case evDeliveryPut:
		s.cacheDelivery(body.(*Delivery))
	case evDeliveryState:
		b := body.(*deliveryStateBody)
		if _, ok := s.where[b.ID]; !ok {
			return
		}
		st := b.State
		if st.Status != StatusPending && st.Status != StatusInFlight {
			delete(s.active, b.ID)
			return
		}
		a := s.active[b.ID]
		if a == nil {
			a = &activeRef{webhookID: b.WebhookID}
			s.active[b.ID] = a
		}
		a.status = st.Status
		a.nextRetryMs = -1
		if st.NextRetryAtMs != nil {
			a.nextRetryMs = *st.NextRetryAtMs
		}
		a.claimedBy, a.claimedAtMs = "", 0
		if st.ClaimedBy != nil {
			a.claimedBy = *st.ClaimedBy
		}
		if st.ClaimedAtMs != nil {
			a.claimedAtMs = *st.ClaimedAtMs
		}
	case evDeliveryDelete:
		for _, r := range body.(*deliveryDeleteBody).Refs {
			delete(s.where, r.ID)
			delete(s.active, r.ID)
		}
	}
}

func (s *Store) cacheDelivery(d *Delivery) {
	s.where[d.ID] = d.WebhookID
	st := d.State
	if st.Status != StatusPending && st.Status != StatusInFlight {
		delete(s.active, d.ID)
		return
	}
	a := &activeRef{webhookID: d.WebhookID, status: st.Status, nextRetryMs: -1, createdMs: d.CreatedAtMs}
	if st.NextRetryAtMs != nil {
		a.nextRetryMs = *st.NextRetryAtMs
	}
	if st.ClaimedBy != nil {
		a.claimedBy = *st.ClaimedBy
	}
	if st.ClaimedAtMs != nil {
		a.claimedAtMs = *st.ClaimedAtMs
	}
	s.active[d.ID] = a
}

// getWebhook reads a registration through r.
func getWebhook(r synclog.Reader, id string) (*Webhook, error) {
	var w Webhook
	found, err := synclog.GetRecord(r, webhookKey(id), &w)
	if err != nil || !found {
		return nil, err
	}
	return &w, nil
}

func getDelivery(r synclog.Reader, webhookID, id string) (*Delivery, error) {
	var d Delivery
	found, err := synclog.GetRecord(r, deliveryKey(webhookID, id), &d)
	if err != nil || !found {
		return nil, err
	}
	return &d, nil
}

func notFound(id string) error {
	return syncerr.NotFound("Webhook not found: %s", id)
}

func internal(err error, what string) error {
	if _, ok := syncerr.As(err); ok {
		return err
	}
	return syncerr.Internal(err, "webhooks: %s: %v", what, fmt.Sprint(err))
}
