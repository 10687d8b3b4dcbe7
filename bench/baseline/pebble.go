package baseline

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// PebbleShape describes a workload's commit shape, so the raw-Pebble
// baseline commits exactly what the syncd workload commits. Zero fields take
// the defaults named on each.
type PebbleShape struct {
	// KeysPerCommit is the number of keys in each synced batch. Default 100.
	KeysPerCommit int
	// ValueBytes is the size of each value, filled with incompressible
	// bytes. Default 1024.
	ValueBytes int
	// KeyBytes is the size of each key, at least 16. Default 24, about a log
	// key: a keyspace tag, a workspace id and a sequence number.
	KeyBytes int
	// Writers is the number of goroutines committing at once, each its own
	// key range. Pebble groups their concurrent WAL syncs into one fsync, as
	// syncd's group commit does. Default 1.
	Writers int
	// Key, when set, gives the seq-th key a writer writes (appended to
	// dst), so the baseline writes the very keys of the workload it is
	// compared with: spread keys make Pebble compact more than one
	// sequential range does. Nil: sequential keys of KeyBytes per writer.
	Key func(dst []byte, writer int, seq uint64) []byte
}

// Default shape values.
const (
	DefaultKeysPerCommit = 100
	DefaultValueBytes    = 1024
	DefaultKeyBytes      = 24
	minKeyBytes          = 16 // an 8-byte writer prefix and an 8-byte sequence
)

// validate fills defaults and names the first bad field.
func (s *PebbleShape) validate() error {
	if s.KeysPerCommit == 0 {
		s.KeysPerCommit = DefaultKeysPerCommit
	}
	if s.ValueBytes == 0 {
		s.ValueBytes = DefaultValueBytes
	}
	if s.KeyBytes == 0 {
		s.KeyBytes = DefaultKeyBytes
	}
	if s.Writers == 0 {
		s.Writers = 1
	}
	switch {
	case s.KeysPerCommit < 0:
		return fmt.Errorf("%w: PebbleShape.KeysPerCommit = %d", ErrInvalid, s.KeysPerCommit)
	case s.ValueBytes < 0:
		return fmt.Errorf("%w: PebbleShape.ValueBytes = %d", ErrInvalid, s.ValueBytes)
	case s.KeyBytes < minKeyBytes:
		return fmt.Errorf("%w: PebbleShape.KeyBytes = %d, want at least %d", ErrInvalid, s.KeyBytes, minKeyBytes)
	case s.Writers < 0:
		return fmt.Errorf("%w: PebbleShape.Writers = %d", ErrInvalid, s.Writers)
	}
	return nil
}

// String names the shape for a result: "100x1k" or "100x1k-w4".
func (s PebbleShape) String() string {
	name := fmt.Sprintf("%dx%s", s.KeysPerCommit, sizeName(s.ValueBytes))
	if s.Writers > 1 {
		name += fmt.Sprintf("-w%d", s.Writers)
	}
	return name
}

// DefaultPebbleOptions returns Pebble's own defaults (4 MiB memtables, two
// of them before writes stop, format FormatMinSupported), the reference
// point for judging tuned options.
func DefaultPebbleOptions() *pebble.Options {
	return pebble.DefaultOptions()
}

// SyncedThroughputPebbleOptions returns the options that sustained the
// highest synced throughput (100 keys × 1 KiB per commit, one writer, 60 s
// runs) in the sweep run when this package was written on a 2-core VM
// (cmd/pebblesweep): 64 MiB memtables, four of them before writes stop, on
// the newest on-disk format; everything else is Pebble's default.
//
// Measured there, two DBs side by side for 60 s so both saw the same disk
// (the same set against itself differed by 2%):
//
//   - 64 MiB memtables beat the defaults by 10%: 4 MiB memtables stall
//     writes dozens to hundreds of times a minute, 64 MiB ones never did.
//   - 256 MiB memtables lost 7% to the defaults and 23% to 64 MiB: a larger
//     memtable's skiplist costs more per insert (commit p50 rose about
//     150µs), and it holds up to 1 GiB and as much WAL to replay at restart.
//   - FormatNewest was 5% behind the oldest format, within noise; it is set
//     because Pebble asks for an explicit format and newer features need it.
//
// Sustained synced throughput here is bound by the disk (about 2 bytes
// written per byte committed: WAL plus flush), which varied by ±50% between
// runs, far more than any option moved it. Rerun the sweep on new hardware.
func SyncedThroughputPebbleOptions() *pebble.Options {
	return &pebble.Options{
		FormatMajorVersion:          pebble.FormatNewest,
		MemTableSize:                64 << 20,
		MemTableStopWritesThreshold: 4,
	}
}

// openFresh opens a Pebble DB in a new directory under dir, with opts() or
// Pebble's defaults, and counts the write stalls it reports.
func openFresh(dir, prefix string, opts func() *pebble.Options) (*pebble.DB, string, *stallCounter, error) {
	dbDir, err := os.MkdirTemp(dir, prefix)
	if err != nil {
		return nil, "", nil, err
	}
	var o *pebble.Options
	if opts != nil {
		o = opts()
	}
	if o == nil {
		o = DefaultPebbleOptions()
	}
	if o.Logger == nil || o.Logger == pebble.DefaultLogger {
		// Pebble's default logger prints routine events ("Found 0 WALs") into
		// the benchmark output; errors still reach stderr.
		o.Logger = quietLogger{}
	}
	sc := &stallCounter{}
	o.AddEventListener(pebble.EventListener{
		WriteStallBegin: func(pebble.WriteStallBeginInfo) { sc.begin() },
		WriteStallEnd:   sc.end,
	})
	db, err := pebble.Open(dbDir, o)
	if o.Cache != nil {
		o.Cache.Unref() // the options' reference; an open DB holds its own
	}
	if err != nil {
		_ = os.RemoveAll(dbDir) // the open error is the one worth returning
		return nil, "", nil, err
	}
	return db, dbDir, sc, nil
}

// quietLogger drops Pebble's informational messages and keeps its errors.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any) {}

func (quietLogger) Errorf(format string, args ...any) {
	pebble.DefaultLogger.Errorf(format, args...)
}

func (quietLogger) Fatalf(format string, args ...any) {
	pebble.DefaultLogger.Fatalf(format, args...)
}

// stallCounter totals the write stalls Pebble reports (memtables or L0 full).
type stallCounter struct {
	mu      sync.Mutex
	n       int
	total   time.Duration
	started time.Time
}

func (s *stallCounter) begin() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	s.started = time.Now()
}

func (s *stallCounter) end() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started.IsZero() {
		s.total += time.Since(s.started)
		s.started = time.Time{}
	}
}

func (s *stallCounter) read() (int, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	total := s.total
	if !s.started.IsZero() {
		total += time.Since(s.started)
	}
	return s.n, total
}

// pebbleNote summarises what the LSM went through during a run, the
// figures that explain a throughput number.
func pebbleNote(db *pebble.DB, sc *stallCounter) string {
	m := db.Metrics()
	n, stalled := sc.read()
	total := m.Total()
	return fmt.Sprintf("stalls=%d (%s) flushes=%d compactions=%d read-amp=%d w-amp=%.2f",
		n, roundDur(stalled), m.Flush.Count, m.Compact.Count, m.ReadAmp(), total.WriteAmp())
}

// logKey writes the key of sequence seq of a writer into key (len(key) ≥
// 16): an 8-byte prefix scrambled from the writer's id, so writers' ranges
// interleave in the keyspace as workspaces do, then the sequence big-endian
// so each writer appends like a log, then zero padding.
func logKey(key []byte, writer int, seq uint64) {
	binary.BigEndian.PutUint64(key[0:8], splitmix64(uint64(writer)))
	binary.BigEndian.PutUint64(key[8:16], seq)
	clear(key[16:])
}

// splitmix64 is a fixed bijective scramble, so prefixes look random but are
// the same in every run.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// valueSource hands out incompressible values of a fixed size, sliced at
// shifting offsets from one random pool so no value repeats its neighbour
// and nothing is allocated per key.
type valueSource struct {
	pool []byte
	size int
	off  int
}

func newValueSource(size int, seed uint64) *valueSource {
	return &valueSource{pool: randomBytes(size+1<<20, seed), size: size}
}

func (v *valueSource) next() []byte {
	// A prime stride walks the whole pool before repeating an offset.
	v.off = (v.off + 4099) % (len(v.pool) - v.size + 1)
	return v.pool[v.off : v.off+v.size]
}

// PebbleSynced opens a fresh Pebble DB in a new directory under dir with
// opts() (nil: DefaultPebbleOptions), commits batches of the given shape with
// pebble.Sync n times in total or until d has elapsed, whichever comes first
// (0 ignores either, not both), and removes the DB.
//
// Pass the options syncd opens its log with, so the figure is the limit of
// the same engine under the same options. opts is a function because
// Pebble options must not be shared between two open DBs.
//
// Ops counts keys and Commits batches; Bytes is keys × (KeyBytes +
// ValueBytes); Latencies holds one entry per commit. Note tells the write
// stalls, flushes, compactions and amplification seen, the figures that
// explain a poor run. Each writer's keys increase like a log, in its own
// range.
func PebbleSynced(dir string, opts func() *pebble.Options, shape PebbleShape, n int, d time.Duration) (Result, error) {
	if err := shape.validate(); err != nil {
		return Result{}, err
	}
	if _, err := newBound(n, d); err != nil { // check before the costly open
		return Result{}, err
	}
	db, dbDir, sc, err := openFresh(dir, "pebble-synced-", opts)
	if err != nil {
		return Result{}, fmt.Errorf("baseline: pebble synced: %w", err)
	}
	defer func() { _ = os.RemoveAll(dbDir) }() // scratch data; a leftover is harmless

	lat := NewHistogram()
	b, _ := newBound(n, d) // the clock starts once the DB is open
	var (
		commits atomic.Int64
		failed  atomic.Bool
		wg      sync.WaitGroup
		errs    = make([]error, shape.Writers)
	)
	start := time.Now()
	for w := range shape.Writers {
		wg.Go(func() {
			key := make([]byte, shape.KeyBytes)
			values := newValueSource(shape.ValueBytes, uint64(w)+1)
			var seq uint64
			for !failed.Load() && b.claim() {
				batch := db.NewBatch()
				for range shape.KeysPerCommit {
					k := key
					if shape.Key != nil {
						k = shape.Key(key[:0], w, seq)
					} else {
						logKey(key, w, seq)
					}
					seq++
					if err := batch.Set(k, values.next(), nil); err != nil {
						errs[w] = err
						failed.Store(true)
						_ = batch.Close()
						return
					}
				}
				t := time.Now()
				err := batch.Commit(pebble.Sync)
				lat.Record(time.Since(t))
				_ = batch.Close() // returns the batch to Pebble's pool; Commit's error is the one that matters
				if err != nil {
					errs[w] = err
					failed.Store(true)
					return
				}
				commits.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	note := pebbleNote(db, sc)
	closeErr := db.Close()
	if err := errors.Join(append(errs, closeErr)...); err != nil {
		return Result{}, fmt.Errorf("baseline: pebble synced: %w", err)
	}
	keys := commits.Load() * int64(shape.KeysPerCommit)
	return Result{
		Name:      "pebble-synced-" + shape.String(),
		Ops:       keys,
		Bytes:     keys * int64(shape.KeyBytes+shape.ValueBytes),
		Commits:   commits.Load(),
		Elapsed:   elapsed,
		Latencies: lat,
		Note:      note,
	}, nil
}

// scanLoadBatch is how many keys PebbleScan's loader puts in one batch.
const scanLoadBatch = 1000

// PebbleScan loads keys entries of valueBytes incompressible bytes (16-byte
// keys, unsynced batches, then a flush to sstables) into a fresh Pebble DB
// under dir, then times a full forward iteration three times and reports
// the fastest: Ops counts entries, Bytes key plus value bytes. It is the
// ceiling for pull, snapshot and replay, which all walk a key range.
//
// The sstables were just written, so the scan reads them from the OS page
// cache, not the disk: it measures Pebble's iteration cost, which is what a
// warm server pays. The DB is removed afterwards.
func PebbleScan(dir string, opts func() *pebble.Options, keys int, valueBytes int) (Result, error) {
	switch {
	case keys <= 0:
		return Result{}, fmt.Errorf("%w: keys = %d", ErrInvalid, keys)
	case valueBytes < 0:
		return Result{}, fmt.Errorf("%w: valueBytes = %d", ErrInvalid, valueBytes)
	}
	db, dbDir, _, err := openFresh(dir, "pebble-scan-", opts)
	if err != nil {
		return Result{}, fmt.Errorf("baseline: pebble scan: %w", err)
	}
	defer func() { _ = os.RemoveAll(dbDir) }() // scratch data; a leftover is harmless

	res, err := loadAndScan(db, keys, valueBytes)
	if closeErr := db.Close(); err == nil && closeErr != nil {
		err = closeErr
	}
	if err != nil {
		return Result{}, fmt.Errorf("baseline: pebble scan: %w", err)
	}
	return res, nil
}

func loadAndScan(db *pebble.DB, keys, valueBytes int) (Result, error) {
	key := make([]byte, minKeyBytes)
	values := newValueSource(valueBytes, 7)
	for i := 0; i < keys; i += scanLoadBatch {
		batch := db.NewBatch()
		for j := i; j < min(i+scanLoadBatch, keys); j++ {
			logKey(key, 0, uint64(j))
			if err := batch.Set(key, values.next(), nil); err != nil {
				_ = batch.Close()
				return Result{}, err
			}
		}
		err := batch.Commit(pebble.NoSync)
		_ = batch.Close() // returns the batch to Pebble's pool
		if err != nil {
			return Result{}, err
		}
	}
	if err := db.Flush(); err != nil {
		return Result{}, err
	}

	best := Result{Name: fmt.Sprintf("pebble-scan-%s", sizeName(valueBytes))}
	for range 3 {
		entries, size, elapsed, err := scanAll(db)
		if err != nil {
			return Result{}, err
		}
		if entries != int64(keys) {
			return Result{}, fmt.Errorf("scan saw %d entries, loaded %d", entries, keys)
		}
		if best.Elapsed == 0 || elapsed < best.Elapsed {
			best.Ops, best.Bytes, best.Elapsed = entries, size, elapsed
		}
	}
	return best, nil
}

// scanAll iterates the whole DB once, touching every key and value.
func scanAll(db *pebble.DB) (entries, size int64, elapsed time.Duration, err error) {
	start := time.Now()
	it, err := db.NewIter(nil)
	if err != nil {
		return 0, 0, 0, err
	}
	for valid := it.First(); valid; valid = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			_ = it.Close()
			return 0, 0, 0, err
		}
		entries++
		size += int64(len(it.Key()) + len(v))
	}
	if err := it.Close(); err != nil {
		return 0, 0, 0, err
	}
	return entries, size, time.Since(start), nil
}
