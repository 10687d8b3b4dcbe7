package log

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Sentinel errors of the log.
var (
	// ErrOverloaded is returned by Commit when the committer's queue is full.
	// The caller should answer 503 and let the client retry.
	ErrOverloaded = errors.New("log: commit queue full")
	// ErrUnhealthy is returned while the store is recovering from a failed
	// write or sync. Nothing of the failed group was acknowledged.
	ErrUnhealthy = errors.New("log: store unhealthy")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("log: closed")
	// ErrTooLarge is returned for a batch above Config.MaxBatchBytes.
	ErrTooLarge = errors.New("log: batch too large")
)

// Config configures a DB. The zero value of every field but Dir is a sane
// default, filled in by validate.
type Config struct {
	// Dir is the Pebble directory.
	Dir string
	// FS is the filesystem (tests pass vfs.NewCrashableMem or an
	// error-injecting FS). Default: the OS filesystem.
	FS vfs.FS
	// Logger receives the store's logs. Default: slog.Default().
	Logger *slog.Logger
	// QueueSize bounds the number of batches waiting for the committer
	// (queued, or gathered into the next group while an fsync runs).
	// A full queue answers ErrOverloaded at once rather than queueing
	// without bound. Default 8192.
	QueueSize int
	// MaxGroupBytes bounds the bytes of one group commit. Larger groups
	// amortize the fsync over more writers but delay the first of them.
	// Default 16 MiB.
	MaxGroupBytes int
	// MaxBatchBytes bounds one writer's batch. Default 64 MiB.
	MaxBatchBytes int
	// MemTableSize is Pebble's memtable size. A large memtable keeps L0
	// compactions off the commit path; the default is 64 MiB.
	MemTableSize uint64
	// CacheSize is Pebble's block cache size for sstable blocks. Default
	// 64 MiB. Pebble charges its memtables to the block cache, so the cache
	// syncd creates is CacheSize plus room for two memtables (the active one
	// and one being flushed); without that room a cache no larger than the
	// memtables holds nothing at all.
	CacheSize int64
	// Tune, if set, may adjust the Pebble options after syncd's defaults.
	Tune func(*pebble.Options)
	// OnCommit, if set, is called by the committer after every group
	// commit (successful or not) with its statistics. It must not block.
	OnCommit func(CommitStats)
	// RecoverEvery is how often an unhealthy store retries reopening.
	// Default 1 s.
	RecoverEvery time.Duration
}

// CommitStats describes one group commit.
type CommitStats struct {
	Batches  int           // writers answered by this commit
	Bytes    int           // bytes written
	Duration time.Duration // Pebble Apply with Sync, including the fsync
	Err      error
}

func (c *Config) validate() error {
	if c.Dir == "" {
		return errors.New("log: Config.Dir is required")
	}
	if c.FS == nil {
		c.FS = vfs.Default
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.QueueSize <= 0 {
		c.QueueSize = 8192
	}
	if c.MaxGroupBytes <= 0 {
		c.MaxGroupBytes = 16 << 20
	}
	if c.MaxBatchBytes <= 0 {
		c.MaxBatchBytes = 64 << 20
	}
	if c.MemTableSize == 0 {
		c.MemTableSize = 64 << 20
	}
	if c.CacheSize <= 0 {
		c.CacheSize = 64 << 20
	}
	if c.RecoverEvery <= 0 {
		c.RecoverEvery = time.Second
	}
	return nil
}

// separatedValueBytes is the smallest value Pebble stores in a blob file
// rather than inline in its sstable (see PebbleOptions).
const separatedValueBytes = 512

// PebbleOptions returns the Pebble options syncd uses for cfg. Benchmarks
// use them for the raw-Pebble baselines so that ratios compare like with
// like. Its Cache carries a reference the caller releases (Cache.Unref)
// once pebble.Open has taken its own.
func PebbleOptions(cfg Config) *pebble.Options {
	_ = cfg.validate()
	opts := &pebble.Options{
		FS:                          cfg.FS,
		MemTableSize:                cfg.MemTableSize,
		MemTableStopWritesThreshold: 4,
		L0CompactionThreshold:       4,
		L0StopWritesThreshold:       1000,
		LBaseMaxBytes:               256 << 20,
		Cache:                       pebble.NewCache(cfg.CacheSize + 2*int64(cfg.MemTableSize)),
		FormatMajorVersion:          pebble.FormatNewest,
		Logger:                      pebbleLogger{cfg.Logger},
	}
	opts.CompactionConcurrencyRange = func() (int, int) { return 1, 2 }
	// Value separation: a flush writes every value of at least
	// separatedValueBytes (the change entries and rows, which carry the op's
	// ~1.4 KiB payload) into a blob file once, and the sstables keep a
	// reference. Compactions then rewrite keys and references instead of
	// payloads, so their CPU (snappy above all) and write amplification no
	// longer grow with the payload bytes. The op_id index, counters and most
	// system records stay inline. FormatNewest (FormatValueSeparation) is
	// already the format syncd creates; older stores upgrade on open.
	opts.Experimental.ValueSeparationPolicy = func() pebble.ValueSeparationPolicy {
		return pebble.ValueSeparationPolicy{
			Enabled:     true,
			MinimumSize: separatedValueBytes,
			// Every flush writes a blob file spanning the whole keyspace,
			// so each L0 compaction adds about L0CompactionThreshold to
			// the depth of what it writes; at 10 every third L0 compaction
			// rewrote all the values it carried into new blob files (12%
			// of syncd's CPU under push load).
			MaxBlobReferenceDepth: 100,
			// Rows are overwritten by edits; their old payloads are garbage
			// in blob files that compactions rewrite once they are old and a
			// fifth of the blob bytes is garbage.
			RewriteMinimumAge:  5 * time.Minute,
			TargetGarbageRatio: 0.2,
		}
	}
	opts.EnsureDefaults()
	for i := range opts.Levels {
		opts.Levels[i].BlockSize = 32 << 10
		// Bloom filters make the point reads of every push (op_id index and
		// row lookups, mostly misses for new keys) skip sstables that cannot
		// hold the key; Pebble has none by default.
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
		opts.Levels[i].FilterType = pebble.TableFilter
	}
	if cfg.Tune != nil {
		cfg.Tune(opts)
	}
	return opts
}

// pebbleLogger routes Pebble's logs to slog. Fatalf panics with
// *fatalError instead of exiting, so that a failed commit fails its group
// and marks the store unhealthy rather than killing the process.
type pebbleLogger struct{ l *slog.Logger }

type fatalError struct{ msg string }

func (e *fatalError) Error() string { return e.msg }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}
func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...), "component", "pebble")
}
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Error(msg, "component", "pebble", "fatal", true)
	panic(&fatalError{msg: msg})
}

// DB is the event log and state store of one region.
type DB struct {
	cfg Config
	log *slog.Logger

	pdb  atomic.Pointer[pebble.DB]
	view atomic.Pointer[View]

	queue   chan *request
	waiting atomic.Int64 // batches queued or gathered, not yet applied (≤ QueueSize)
	stop    chan struct{}
	stopped chan struct{}
	closeMu sync.Mutex
	sendMu  sync.RWMutex // Close holds it exclusively while it stops the committer
	closed  atomic.Bool

	health atomic.Pointer[error] // nil when healthy

	originSeq uint64       // owned by the committer goroutine
	builder   groupBuilder // owned by the committer goroutine
	systemSeq atomic.Uint64

	commits   atomic.Uint64
	committed atomic.Uint64 // batches acknowledged
}

// Open opens (or creates) the log in cfg.Dir and starts its committer.
func Open(cfg Config) (*DB, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	db := &DB{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "log"),
		queue:   make(chan *request, cfg.QueueSize),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	if err := db.openPebble(); err != nil {
		return nil, err
	}
	go db.commitLoop()
	return db, nil
}

func (db *DB) openPebble() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("log: open: %v", r)
		}
	}()
	opts := PebbleOptions(db.cfg)
	pdb, err := pebble.Open(db.cfg.Dir, opts)
	// Pebble holds its own reference to the cache while open (Tune may
	// have left none).
	if opts.Cache != nil {
		opts.Cache.Unref()
	}
	if err != nil {
		return fmt.Errorf("log: open %s: %w", db.cfg.Dir, err)
	}
	// Origin and system sequences continue from what is on disk.
	origin, err := getU64(pdb, metaOriginSeqKey)
	if err != nil {
		pdb.Close()
		return err
	}
	sys, err := lastSystemSeq(pdb)
	if err != nil {
		pdb.Close()
		return err
	}
	db.originSeq = origin
	if sys > db.systemSeq.Load() {
		db.systemSeq.Store(sys)
	}
	db.pdb.Store(pdb)
	// Everything on disk after Open is durable: Pebble replayed the WAL
	// into a flushed state. Publish it as the first view.
	db.publish(pdb)
	return nil
}

func getU64(r pebble.Reader, key []byte) (uint64, error) {
	v, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("log: read %q: %w", key, err)
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, &CorruptionError{Key: key, Err: fmt.Errorf("want 8 bytes, have %d", len(v))}
	}
	return binary.BigEndian.Uint64(v), nil
}

func lastSystemSeq(pdb *pebble.DB) (uint64, error) {
	it, err := pdb.NewIter(&pebble.IterOptions{LowerBound: []byte{PrefixSystem}, UpperBound: []byte{PrefixSystem + 1}})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	if !it.Last() {
		return 0, it.Error()
	}
	r := ReadKey(it.Key())
	seq := r.U64()
	if r.Err() != nil {
		return 0, &CorruptionError{Key: append([]byte(nil), it.Key()...), Err: r.Err()}
	}
	return seq, nil
}

// NextSystemSeq allocates a system sequence number. Writers allocate them
// under their own lock, so events of one entity are numbered in the order
// they are applied. A batch that fails to commit leaves a gap in the system
// sequence (only server_version and originSeq are gap-free).
func (db *DB) NextSystemSeq() uint64 { return db.systemSeq.Add(1) }

// Healthy returns nil while the store accepts writes, or the error that
// made it unhealthy.
func (db *DB) Healthy() error {
	if db.closed.Load() {
		return ErrClosed
	}
	if p := db.health.Load(); p != nil {
		return fmt.Errorf("%w: %v", ErrUnhealthy, *p)
	}
	return nil
}

// Pebble returns the underlying Pebble DB. It is for benchmarks, backup
// and tooling; request paths use View, Live and Commit.
func (db *DB) Pebble() *pebble.DB { return db.pdb.Load() }

// Stats reports counters of the committer.
func (db *DB) Stats() (groupCommits, batches uint64) {
	return db.commits.Load(), db.committed.Load()
}

// Close stops the committer after it has answered every queued batch,
// releases the published view and closes Pebble (which syncs its WAL).
func (db *DB) Close() error {
	db.closeMu.Lock()
	defer db.closeMu.Unlock()
	db.sendMu.Lock()
	if db.closed.Swap(true) {
		db.sendMu.Unlock()
		return nil
	}
	close(db.stop)
	db.sendMu.Unlock()
	<-db.stopped
	if v := db.view.Swap(nil); v != nil {
		v.Release()
	}
	pdb := db.pdb.Load()
	if pdb == nil {
		return nil
	}
	return closePebble(pdb)
}

func closePebble(pdb *pebble.DB) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("log: close: %v", r)
		}
	}()
	return pdb.Close()
}

// Commit hands b to the committer and waits until it is durable: written
// in a synced Pebble commit, together with the batches of other writers,
// and visible in the published View. A nil error means durable; any error
// means the batch may or may not be on disk but is not acknowledged (after
// ErrUnhealthy from a failed sync, recovery replays whatever reached the
// WAL: a batch is all or nothing).
//
// The caller keeps ownership of b and must Close it afterwards.
func (db *DB) Commit(ctx context.Context, b *Batch) error {
	if db.closed.Load() {
		return ErrClosed
	}
	if err := db.Healthy(); err != nil {
		return err
	}
	if b.pb.Len() > db.cfg.MaxBatchBytes {
		return fmt.Errorf("%w: %d bytes > %d", ErrTooLarge, b.pb.Len(), db.cfg.MaxBatchBytes)
	}
	if b.pb.Empty() && len(b.originKeys) == 0 {
		return nil
	}
	// The bound counts batches the committer has gathered but not yet
	// applied, not only those in the channel.
	if db.waiting.Add(1) > int64(db.cfg.QueueSize) {
		db.waiting.Add(-1)
		return ErrOverloaded
	}
	r := requestPool.Get().(*request)
	r.b = b
	db.sendMu.RLock()
	if db.closed.Load() {
		db.sendMu.RUnlock()
		db.waiting.Add(-1)
		r.b = nil
		requestPool.Put(r)
		return ErrClosed
	}
	db.queue <- r // never blocks: waiting ≤ QueueSize = cap(queue)
	db.sendMu.RUnlock()
	// Once queued the batch will be committed or failed; wait for the
	// answer even if ctx ends, so the caller never reuses a batch the
	// committer still reads, and never reports failure for a durable write.
	err := <-r.done
	r.b = nil
	requestPool.Put(r)
	return err
}

// markUnhealthy records err and starts recovery: the Pebble instance that
// failed is closed and reopened from disk, which replays exactly what
// reached its WAL.
func (db *DB) markUnhealthy(err error) {
	if !db.health.CompareAndSwap(nil, &err) {
		return
	}
	db.log.Error("store unhealthy: writes refused until recovery", "err", err)
	go db.recoverLoop()
}

func (db *DB) recoverLoop() {
	t := time.NewTicker(db.cfg.RecoverEvery)
	defer t.Stop()
	for {
		select {
		case <-db.stop:
			return
		case <-t.C:
		}
		if err := db.tryRecover(); err != nil {
			db.log.Warn("store recovery failed; will retry", "err", err)
			continue
		}
		db.log.Info("store recovered; accepting writes")
		return
	}
}

// tryRecover reopens Pebble. It runs on the recovery goroutine while the
// committer refuses writes (health is set), so nothing else writes.
func (db *DB) tryRecover() error {
	old := db.pdb.Load()
	if old != nil {
		if v := db.view.Swap(nil); v != nil {
			v.Release()
		}
		done := make(chan error, 1)
		go func() { done <- closePebble(old) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			db.log.Warn("closing the failed Pebble instance timed out; abandoning it")
		}
		db.pdb.Store(nil)
	}
	if err := db.openPebble(); err != nil {
		return err
	}
	db.health.Store(nil)
	return nil
}

// Live returns a reader over Pebble's live state, which includes batches
// whose fsync has not returned yet. Only writers deciding conditional
// writes under their own lock may use it (model.md §3); every answer to a
// client is read from View.
func (db *DB) Live() Reader {
	return liveReader{db}
}

type liveReader struct{ db *DB }

func (l liveReader) Get(key []byte) ([]byte, error) {
	pdb := l.db.pdb.Load()
	if pdb == nil {
		return nil, ErrUnhealthy
	}
	return getCopy(pdb, key)
}

func (l liveReader) NewIter(lower, upper []byte) (*pebble.Iterator, error) {
	pdb := l.db.pdb.Load()
	if pdb == nil {
		return nil, ErrUnhealthy
	}
	return pdb.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
}

// Reader reads keys. Get returns (nil, nil) when the key is absent.
type Reader interface {
	Get(key []byte) ([]byte, error)
	NewIter(lower, upper []byte) (*pebble.Iterator, error)
}

func getCopy(r pebble.Reader, key []byte) ([]byte, error) {
	v, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := append(make([]byte, 0, len(v)), v...)
	closer.Close()
	return out, nil
}

// GetRecord reads and decodes the record at key from r. found is false when
// the key is absent.
func GetRecord(r Reader, key []byte, v any) (found bool, err error) {
	data, err := r.Get(key)
	if err != nil || data == nil {
		return false, err
	}
	return true, Decode(key, data, v)
}
