package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/syncerr"
)

// Store is the jobs RPC store of one region.
type Store struct {
	db  *synclog.DB
	cfg Config
	log *slog.Logger

	// mu guards the admission state and the indexes below. It is never
	// held across a commit, and is taken after a job's own mutex.
	mu      sync.Mutex
	jobs    map[string]*entry
	active  int            // streaming jobs, including admitted creates still committing
	pending int            // admitted creates still committing
	perUser map[string]int // streaming jobs per user, same rule
	idem    map[string]*idemEntry
	legacy  map[string]*entry // streaming jobs that cannot be recovered

	// onDurable, when set (benchmarks), runs after every durable write of a
	// job, before its streams wake.
	onDurable func(e *entry)

	// The janitor (Start/Close).
	stop    chan struct{}
	stopped chan struct{}

	// dirty is set when a commit failed with an unknown outcome (the store
	// went unhealthy): the in-memory indexes are rebuilt from the log
	// before the next call.
	dirty atomic.Bool
}

// entry is the in-memory handle of one job.
type entry struct {
	// mu is the job's write lock: held from the decision until its batch
	// is durable, so one job's events apply in order and every decision
	// sees the previous write.
	mu  sync.Mutex
	rec *jobRecord // current durable state; nil once deleted (under mu)
	// notify is closed (and replaced) after every durable write of the
	// job: streams wait on it.
	notify atomic.Pointer[chan struct{}]
	// progress is what streams need of the durable state, set before the
	// streams wake (nil: not yet created; gone: deleted).
	progress atomic.Pointer[progress]

	// Index fields, under Store.mu.
	id          string
	user        string
	status      string
	startedAt   int64
	completedAt int64
	hasExec     bool
	legacy      bool // streaming and not recoverable (side-modules §2.4 step 2)
	idemKey     string
	gone        bool
}

type idemEntry struct {
	id   string
	done chan struct{} // closed when the create committed or failed
	err  error
}

func newEntry(id string) *entry {
	e := &entry{id: id}
	ch := make(chan struct{})
	e.notify.Store(&ch)
	return e
}

// progress is a job's durable stream state.
type progress struct {
	status             string
	contentLen         int64
	attempts, resetLen int64
	gone               bool
}

func (e *entry) setProgress(rec *jobRecord) {
	if rec == nil {
		e.progress.Store(&progress{gone: true})
		return
	}
	e.progress.Store(&progress{status: rec.Status, contentLen: rec.ContentLen, attempts: rec.Attempts, resetLen: rec.ResetLen})
}

// wake tells the job's streams that something changed.
func (e *entry) wake() {
	ch := make(chan struct{})
	old := e.notify.Swap(&ch)
	close(*old)
}

// New returns a Store over db and loads its indexes from the durable
// state (a restart resumes every job where the log left it).
func New(db *synclog.DB, cfg Config) (*Store, error) {
	if db == nil {
		return nil, errors.New("jobs: nil log")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Store{db: db, cfg: cfg, log: cfg.Logger.With("component", "jobs")}
	if err := s.reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Start runs CleanupExpired every Config.CleanupEvery on syncd's clock, so
// idle jobs time out and finished ones go after their retention even when
// the host never calls cleanupExpired (side-modules §9 item 15). Close
// stops it.
func (s *Store) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stop != nil {
		return
	}
	s.stop, s.stopped = make(chan struct{}), make(chan struct{})
	go func(stop, stopped chan struct{}) {
		defer close(stopped)
		t := time.NewTicker(s.cfg.CleanupEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			if n, err := s.CleanupExpired(context.Background()); err != nil {
				s.log.Warn("job cleanup failed; will retry", "err", err)
			} else if n > 0 {
				s.log.Debug("job cleanup", "changed", n)
			}
		}
	}(s.stop, s.stopped)
}

// Close stops the janitor and waits for it.
func (s *Store) Close() {
	s.mu.Lock()
	stop, stopped := s.stop, s.stopped
	s.stop = nil
	s.mu.Unlock()
	if stop != nil {
		close(stop)
		<-stopped
	}
}

// reload rebuilds the in-memory indexes from the durable view.
func (s *Store) reload() error {
	v := s.db.View()
	if v == nil {
		return syncerr.Unavailable(synclog.ErrUnhealthy, "storage unavailable, retry later")
	}
	defer v.Release()
	jobs := map[string]*entry{}
	legacy := map[string]*entry{}
	perUser := map[string]int{}
	idem := map[string]*idemEntry{}
	active := 0
	lo := []byte{synclog.PrefixJob}
	it, err := v.NewIter(lo, synclog.PrefixEnd(lo))
	if err != nil {
		return syncerr.Internal(err, "jobs: load")
	}
	for ok := it.First(); ok; ok = it.Next() {
		rec := new(jobRecord)
		if err := synclog.Decode(it.Key(), it.Value(), rec); err != nil {
			it.Close()
			return err
		}
		if err := withTail(v, rec); err != nil {
			it.Close()
			return syncerr.Internal(err, "jobs: load")
		}
		rec.Content = "" // the cache holds no content
		e := newEntry(rec.ID)
		e.rec = rec
		e.setProgress(rec)
		e.index(rec)
		jobs[rec.ID] = e
		if e.legacy {
			legacy[rec.ID] = e
		}
		if rec.Status == StatusStreaming {
			active++
			perUser[rec.UserID]++
		}
		if rec.IdempotencyKey != "" {
			idem[idemKey(rec.UserID, rec.IdempotencyKey)] = &idemEntry{id: rec.ID}
		}
	}
	if err := it.Close(); err != nil {
		return syncerr.Internal(err, "jobs: load")
	}
	s.mu.Lock()
	s.jobs, s.perUser, s.idem, s.legacy, s.active, s.pending = jobs, perUser, idem, legacy, active, 0
	s.mu.Unlock()
	return nil
}

func idemKey(user, key string) string { return user + "\x00" + key }

// index copies rec's index fields into e (under Store.mu, or before e is
// shared).
func (e *entry) index(rec *jobRecord) {
	e.user = rec.UserID
	e.status = rec.Status
	e.startedAt = rec.StartedAtMs
	e.completedAt = rec.CompletedAtMs
	e.hasExec = len(rec.Execution) > 0
	e.legacy = rec.Status == StatusStreaming && !rec.recoverable()
	e.idemKey = rec.IdempotencyKey
}

// setIndex updates e's index fields and the legacy set (under s.mu).
func (s *Store) setIndex(e *entry, rec *jobRecord) {
	e.index(rec)
	if e.legacy {
		s.legacy[e.id] = e
	} else {
		delete(s.legacy, e.id)
	}
}

// ready rebuilds the indexes after a failed commit of unknown outcome.
func (s *Store) ready() error {
	if !s.dirty.Load() {
		return nil
	}
	if err := s.db.Healthy(); err != nil {
		return syncerr.Unavailable(err, "storage unavailable, retry later")
	}
	if err := s.reload(); err != nil {
		return err
	}
	s.dirty.Store(false)
	return nil
}

// lookup returns the entry of id, or nil.
func (s *Store) lookup(id string) *entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.jobs[id]
}

// tx is one write to one job: events applied to a copy of its record as
// they are appended, then committed together.
type tx struct {
	s     *Store
	b     *synclog.Batch
	atMs  int64
	actor string
	rec   *jobRecord
}

func (s *Store) begin(rec *jobRecord, actor string) *tx {
	t := &tx{s: s, b: s.db.NewBatch(), atMs: s.cfg.Now().UnixMilli(), actor: actor}
	if rec != nil {
		cp := *rec
		t.rec = &cp
	}
	return t
}

// emit appends one event and folds it into the batch with the same
// function replay uses.
func (t *tx) emit(typ string, body jobEvent) error {
	data, err := synclog.Encode(body)
	if err != nil {
		return syncerr.Internal(err, "jobs: encode")
	}
	seq := t.s.db.NextSystemSeq()
	ev := &synclog.SystemEvent{Type: typ, AtMs: t.atMs, Actor: t.actor, Body: data}
	if err := t.b.AppendEvent(synclog.SystemKey(seq), ev); err != nil {
		return syncerr.Internal(err, "jobs: append")
	}
	if t.rec, err = applyEvent(t.b, t.rec, seq, t.atMs, body); err != nil {
		return syncerr.Internal(err, "jobs: fold")
	}
	return nil
}

// commit makes the batch durable. The caller holds the job's mutex.
func (t *tx) commit(ctx context.Context) error {
	defer t.b.Close()
	if err := t.s.db.Commit(ctx, t.b); err != nil {
		return t.s.commitErr(err)
	}
	return nil
}

// done commits the batch and records the durable write of e (the caller
// holds e.mu).
func (t *tx) done(ctx context.Context, e *entry) error {
	if err := t.commit(ctx); err != nil {
		return err
	}
	t.s.applied(e, t.rec)
	return nil
}

// write commits one event on e (the caller holds e.mu) and records it.
func (s *Store) write(ctx context.Context, e *entry, actor, typ string, body jobEvent) error {
	t := s.begin(e.rec, actor)
	defer t.b.Close()
	if err := t.emit(typ, body); err != nil {
		return err
	}
	return t.done(ctx, e)
}

func (s *Store) commitErr(err error) error {
	switch {
	case errors.Is(err, synclog.ErrOverloaded):
		return syncerr.Unavailable(err, "server overloaded, retry later")
	case errors.Is(err, synclog.ErrUnhealthy):
		s.dirty.Store(true)
		return syncerr.Unavailable(err, "storage unavailable, retry later")
	case errors.Is(err, synclog.ErrClosed):
		return syncerr.Unavailable(err, "storage closed")
	case errors.Is(err, synclog.ErrTooLarge):
		return syncerr.Oversized("%v", err)
	}
	return syncerr.Internal(err, "jobs: commit")
}

// applied records a durable write of e (caller holds e.mu): the cache,
// the indexes and the admission counters follow, and streams wake.
func (s *Store) applied(e *entry, rec *jobRecord) {
	if rec != nil {
		cp := *rec
		cp.Content = ""
		e.rec = &cp
	} else {
		e.rec = nil
	}
	s.mu.Lock()
	if s.jobs[e.id] == e {
		wasStreaming := e.status == StatusStreaming
		if rec == nil {
			delete(s.jobs, e.id)
			delete(s.legacy, e.id)
			if e.idemKey != "" {
				delete(s.idem, idemKey(e.user, e.idemKey))
			}
			e.gone = true
			if wasStreaming {
				s.release(e.user)
			}
		} else {
			s.setIndex(e, rec)
			if wasStreaming && rec.Status != StatusStreaming {
				s.release(e.user)
			}
		}
	}
	s.mu.Unlock()
	if s.onDurable != nil {
		s.onDurable(e)
	}
	e.setProgress(rec)
	e.wake()
}

// release returns one unit of admission capacity (under s.mu).
func (s *Store) release(user string) {
	s.active--
	if s.perUser[user]--; s.perUser[user] <= 0 {
		delete(s.perUser, user)
	}
}

// view returns the durable view or a 503.
func (s *Store) view() (*synclog.View, error) {
	v := s.db.View()
	if v == nil {
		return nil, syncerr.Unavailable(synclog.ErrUnhealthy, "storage unavailable, retry later")
	}
	return v, nil
}

// durableRecord reads job id's record from the durable view, as stored
// (no content, progress as of its last non-chunk event), or nil.
func (s *Store) durableRecord(id string) (*jobRecord, error) {
	v, err := s.view()
	if err != nil {
		return nil, err
	}
	defer v.Release()
	rec := new(jobRecord)
	found, err := synclog.GetRecord(v, JobKey(id), rec)
	if err != nil {
		return nil, syncerr.Internal(err, "jobs: read")
	}
	if !found {
		return nil, nil
	}
	return rec, nil
}

// readJob reads a job and (for a streaming job) its assembled content from
// r. found is false when the job does not exist.
func readJob(r synclog.Reader, id string) (*jobRecord, bool, error) {
	rec, found, err := loadJob(r, id)
	if err != nil || !found {
		return nil, false, err
	}
	if rec.Status == StatusStreaming {
		content, _, err := readChunks(r, id, nil)
		if err != nil {
			return nil, false, err
		}
		rec.Content = content
	}
	return rec, true, nil
}

// readChunks assembles a streaming job's content from its chunk records
// and, when seqs is not nil, appends the system events that wrote them.
func readChunks(r synclog.Reader, id string, seqs *[]uint64) (string, int, error) {
	p := chunkPrefix(id)
	it, err := r.NewIter(p, synclog.PrefixEnd(p))
	if err != nil {
		return "", 0, err
	}
	var buf []byte
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		var c chunkRecord
		if err := synclog.Decode(it.Key(), it.Value(), &c); err != nil {
			it.Close()
			return "", 0, err
		}
		buf = append(buf, c.Data...)
		if seqs != nil && c.Seq != 0 {
			*seqs = append(*seqs, c.Seq)
		}
		n++
	}
	if err := it.Close(); err != nil {
		return "", 0, err
	}
	return string(buf), n, nil
}

func newJobID() string {
	u, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return u.String()
}

func notFound(id string) error {
	return syncerr.NotFound("Background job not found: %.64q", id)
}

// leaseLost is api.md Decisions 4: a lost or foreign lease is 409.
func leaseLost(format string, args ...any) error {
	return syncerr.Conflict("lease lost: %s", fmt.Sprintf(format, args...))
}
