package limits

//lint:file-ignore U1000 the _msgpack field is msgpack's as_array marker, read by reflection

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"

	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/syncerr"
)

// Limits of the inputs CheckAndRecord accepts.
const (
	// MaxKeyLen bounds a key in bytes.
	MaxKeyLen = 512
	// maxSafeInt is JavaScript's Number.MAX_SAFE_INTEGER: windowMs and
	// maxRequests arrive as JSON numbers from a TypeScript host.
	maxSafeInt = 1<<53 - 1
	// DefaultIdleAfter is how long a window may go unused before cleanup
	// deletes it (side-modules §3.3: 48 h).
	DefaultIdleAfter = 48 * time.Hour
	// DefaultCleanupMax bounds the windows one cleanup run deletes (500 × 5).
	DefaultCleanupMax = 2500

	shardCount = 64
)

// ErrInvalidConfig reports a window or maximum that is not a positive safe
// integer, or a bad key (400).
var ErrInvalidConfig = errors.New("limits: invalid rate-limit configuration")

// Config configures a Limiter.
type Config struct {
	// DB is the log windows are flushed to and loaded from. Required.
	DB *synclog.DB
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// FlushEvery is how often changed windows are written through the
	// committer. At most one second (model.md §2); default 500 ms.
	FlushEvery time.Duration
	// IdleAfter is how long a window may go unused before cleanup deletes
	// it. Default 48 h.
	IdleAfter time.Duration
	// CleanupEvery is how often the cleanup runs. Default 1 h.
	CleanupEvery time.Duration
	// CleanupMax bounds the windows one cleanup deletes. Default 2,500.
	CleanupMax int
	// Logger. Default slog.Default().
	Logger *slog.Logger
}

func (c *Config) validate() error {
	if c.DB == nil {
		return errors.New("limits: Config.DB is required")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.FlushEvery <= 0 {
		c.FlushEvery = 500 * time.Millisecond
	}
	if c.FlushEvery > time.Second {
		return errors.New("limits: Config.FlushEvery must be at most 1s (a crash may forget at most the last second)")
	}
	if c.IdleAfter <= 0 {
		c.IdleAfter = DefaultIdleAfter
	}
	if c.CleanupEvery <= 0 {
		c.CleanupEvery = time.Hour
	}
	if c.CleanupMax <= 0 {
		c.CleanupMax = DefaultCleanupMax
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Window is one key's fixed window as persisted (value of
// log.PrefixRateWindow | key).
type Window struct {
	_msgpack struct{} `msgpack:",as_array"`

	StartMs   int64 // when the window began
	Count     int64 // requests allowed in it
	WindowMs  int64 // the window length of the last call
	UpdatedMs int64 // last call (cleanup age)
}

// Result is checkAndRecord's answer (side-modules §3.1).
type Result struct {
	Allowed   bool  `json:"allowed"`
	Remaining int64 `json:"remaining"`
	// RetryAfterMs is set on blocked calls: ms until the window ends.
	RetryAfterMs *int64 `json:"retryAfterMs,omitempty"`
	// Limit is the configured maximum (an extra key; clients ignore extras).
	Limit int64 `json:"limit"`
}

// Stats is getStats' answer.
type Stats struct {
	Limit     int64 `json:"limit"`
	Remaining int64 `json:"remaining"`
	ResetMs   int64 `json:"resetMs"`
}

type shard struct {
	mu      sync.Mutex
	windows map[string]*Window
	dirty   map[string]struct{} // changed since the last flush
	deleted map[string]struct{} // removed by cleanup since the last flush
}

// Limiter is the fixed-window rate limiter. Its methods are safe for
// concurrent use.
type Limiter struct {
	cfg    Config
	log    *slog.Logger
	seed   maphash.Seed
	shards [shardCount]shard

	flushMu sync.Mutex // one flush at a time
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// Open loads every persisted window from cfg.DB and returns the limiter.
// Call Start to run the flusher and cleanup, and Close to stop them (Close
// flushes once more).
func Open(cfg Config) (*Limiter, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	l := &Limiter{cfg: cfg, log: cfg.Logger.With("component", "limits"), seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i] = shard{windows: map[string]*Window{}, dirty: map[string]struct{}{}, deleted: map[string]struct{}{}}
	}
	if err := l.load(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *Limiter) load() error {
	v := l.cfg.DB.View()
	if v == nil {
		return errors.New("limits: the log has no read view")
	}
	defer v.Release()
	lo := []byte{synclog.PrefixRateWindow}
	it, err := v.NewIter(lo, synclog.PrefixEnd(lo))
	if err != nil {
		return err
	}
	defer it.Close()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		var w Window
		if err := synclog.Decode(it.Key(), it.Value(), &w); err != nil {
			return err
		}
		key := string(it.Key()[1:])
		l.shardOf(key).windows[key] = &w
		n++
	}
	if err := it.Error(); err != nil {
		return err
	}
	l.log.Debug("rate-limit windows loaded", "windows", n)
	return nil
}

func (l *Limiter) shardOf(key string) *shard {
	return &l.shards[maphash.String(l.seed, key)%shardCount]
}

// CheckConfig validates a key and window configuration.
func CheckConfig(key string, windowMs, maxRequests int64) error {
	if key == "" || len(key) > MaxKeyLen || !utf8.ValidString(key) {
		return &syncerr.Error{Status: 400, Code: syncerr.CodeValidation,
			Message: fmt.Sprintf("Invalid rate-limit key (1..%d bytes of UTF-8)", MaxKeyLen), Err: ErrInvalidConfig}
	}
	if windowMs <= 0 || windowMs > maxSafeInt || maxRequests <= 0 || maxRequests > maxSafeInt {
		return &syncerr.Error{Status: 400, Code: syncerr.CodeValidation,
			Message: "Invalid rate-limit configuration: windowMs and maxRequests must be positive safe integers", Err: ErrInvalidConfig}
	}
	return nil
}

// CheckAndRecord counts one request against key's window and decides it
// (side-modules §3.2): a new or expired window (now ≥ start + windowMs)
// starts at now with count 1; a full one (count ≥ max) blocks without
// counting, with retryAfterMs = start + windowMs − now; otherwise count+1.
func (l *Limiter) CheckAndRecord(key string, windowMs, maxRequests int64) (Result, error) {
	if err := CheckConfig(key, windowMs, maxRequests); err != nil {
		return Result{}, err
	}
	now := l.cfg.Now().UnixMilli()
	sh := l.shardOf(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	w := sh.windows[key]
	if w == nil {
		w = &Window{}
		sh.windows[key] = w
		delete(sh.deleted, key)
	}
	if w.Count == 0 || now >= w.StartMs+windowMs {
		*w = Window{StartMs: now, Count: 1, WindowMs: windowMs, UpdatedMs: now}
		sh.dirty[key] = struct{}{}
		return Result{Allowed: true, Remaining: maxRequests - 1, Limit: maxRequests}, nil
	}
	if w.Count >= maxRequests {
		retry := max(0, w.StartMs+windowMs-now)
		return Result{Allowed: false, Remaining: 0, RetryAfterMs: &retry, Limit: maxRequests}, nil
	}
	w.Count++
	w.WindowMs, w.UpdatedMs = windowMs, now
	sh.dirty[key] = struct{}{}
	return Result{Allowed: true, Remaining: maxRequests - w.Count, Limit: maxRequests}, nil
}

// GetStats reads key's window without counting: an unknown or expired
// window reports the full allowance and resetMs = windowMs.
func (l *Limiter) GetStats(key string, windowMs, maxRequests int64) (Stats, error) {
	if err := CheckConfig(key, windowMs, maxRequests); err != nil {
		return Stats{}, err
	}
	now := l.cfg.Now().UnixMilli()
	sh := l.shardOf(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	w := sh.windows[key]
	if w == nil || w.Count == 0 || now >= w.StartMs+windowMs {
		return Stats{Limit: maxRequests, Remaining: maxRequests, ResetMs: windowMs}, nil
	}
	return Stats{Limit: maxRequests, Remaining: max(0, maxRequests-w.Count), ResetMs: w.StartMs + windowMs - now}, nil
}

// Peek reports a copy of key's window, if any (tests, diagnostics).
func (l *Limiter) Peek(key string) (Window, bool) {
	sh := l.shardOf(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	w := sh.windows[key]
	if w == nil {
		return Window{}, false
	}
	return *w, true
}

// Len is the number of windows in memory.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		n += len(sh.windows)
		sh.mu.Unlock()
	}
	return n
}

// Flush writes every window changed (or deleted) since the last flush
// through the committer, in one batch. A failed commit marks them dirty
// again, so the next flush retries.
func (l *Limiter) Flush(ctx context.Context) error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	type entry struct {
		key string
		w   Window
		del bool
	}
	var entries []entry
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		for k := range sh.dirty {
			if w := sh.windows[k]; w != nil {
				entries = append(entries, entry{key: k, w: *w})
			}
		}
		for k := range sh.deleted {
			entries = append(entries, entry{key: k, del: true})
		}
		clear(sh.dirty)
		clear(sh.deleted)
		sh.mu.Unlock()
	}
	if len(entries) == 0 {
		return nil
	}
	b := l.cfg.DB.NewBatch()
	defer b.Close()
	var err error
	for _, e := range entries {
		key := synclog.NewKey(synclog.PrefixRateWindow).Raw(e.key)
		if e.del {
			err = b.Delete(key)
		} else {
			err = b.SetRecord(key, &e.w)
		}
		if err != nil {
			break
		}
	}
	if err == nil {
		err = l.cfg.DB.Commit(ctx, b)
	}
	if err != nil {
		// Put them back, unless a newer change already did.
		for _, e := range entries {
			sh := l.shardOf(e.key)
			sh.mu.Lock()
			if e.del {
				if _, live := sh.windows[e.key]; !live {
					sh.deleted[e.key] = struct{}{}
				}
			} else if _, live := sh.windows[e.key]; live {
				sh.dirty[e.key] = struct{}{}
			}
			sh.mu.Unlock()
		}
		return fmt.Errorf("limits: flush %d windows: %w", len(entries), err)
	}
	return nil
}

// Cleanup deletes up to Config.CleanupMax windows idle longer than
// Config.IdleAfter (updated before now − IdleAfter) and returns how many it
// deleted. The deletions reach the log with the next flush.
func (l *Limiter) Cleanup() int {
	cutoff := l.cfg.Now().Add(-l.cfg.IdleAfter).UnixMilli()
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		for k, w := range sh.windows {
			if n >= l.cfg.CleanupMax {
				break
			}
			if w.UpdatedMs < cutoff {
				delete(sh.windows, k)
				delete(sh.dirty, k)
				sh.deleted[k] = struct{}{}
				n++
			}
		}
		sh.mu.Unlock()
	}
	if n > 0 {
		l.log.Info("rate-limit windows cleaned up", "deleted", n)
	}
	return n
}

// Start runs the flusher (every Config.FlushEvery) and the cleanup (every
// Config.CleanupEvery) until Close.
func (l *Limiter) Start() {
	l.stop, l.done = make(chan struct{}), make(chan struct{})
	go l.loop()
}

func (l *Limiter) loop() {
	defer close(l.done)
	flush := time.NewTicker(l.cfg.FlushEvery)
	defer flush.Stop()
	clean := time.NewTicker(l.cfg.CleanupEvery)
	defer clean.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-flush.C:
		case <-clean.C:
			l.Cleanup()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := l.Flush(ctx); err != nil {
			l.log.Warn("rate-limit flush failed; retrying on the next tick", "err", err)
		}
		cancel()
	}
}

// Close stops the background loop and flushes once more. The log must
// still be open.
func (l *Limiter) Close() error {
	l.once.Do(func() {
		if l.stop != nil {
			close(l.stop)
			<-l.done
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return l.Flush(ctx)
}
