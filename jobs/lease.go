package jobs

import (
	"context"
	"encoding/json"
	"sort"

	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/syncerr"
)

// Lease times are the host's epoch milliseconds (side-modules §2.4): a
// lease lasts max(1, leaseExpiresAt - now) ms from the host's now.

// checkLease validates a lease call's owner and times and returns the
// lease's expiry.
func (s *Store) checkLease(owner string, nowMs, expMs int64) (int64, error) {
	if err := checkID("leaseOwner", owner); err != nil {
		return 0, err
	}
	if nowMs < 0 || nowMs > maxSafeInt {
		return 0, syncerr.Validation("nowMs must be a safe integer >= 0 (epoch milliseconds)")
	}
	if expMs < 0 || expMs > maxSafeInt {
		return 0, syncerr.Validation("leaseExpiresAtMs must be a safe integer >= 0 (epoch milliseconds)")
	}
	d := max(1, expMs-nowMs)
	if d > s.cfg.MaxLease.Milliseconds() {
		return 0, syncerr.Validation("a lease may last at most %d ms, not %d", s.cfg.MaxLease.Milliseconds(), d)
	}
	return nowMs + d, nil
}

// ClaimJob gives a streaming job that carries execution input to owner
// when it has no lease or its lease expired at nowMs. The claim counts an
// attempt; a re-claim (attempt > 1) resets the content to the execution's
// contentBase, so the resumed worker does not repeat output. It returns
// the claimed job, or nil when the job is not claimable.
func (s *Store) ClaimJob(ctx context.Context, id, owner string, nowMs, expMs int64) (*Job, error) {
	e, exp, err := s.lockLeased(id, owner, nowMs, expMs)
	if err != nil {
		return nil, err
	}
	defer e.mu.Unlock()
	return s.claimLocked(ctx, e, e.rec, owner, nowMs, exp)
}

// lockLeased checks a lease call on job id and returns the job locked
// (the caller unlocks e.mu) with the lease's expiry.
func (s *Store) lockLeased(id, owner string, nowMs, expMs int64) (*entry, int64, error) {
	if err := s.ready(); err != nil {
		return nil, 0, err
	}
	if err := checkID("jobId", id); err != nil {
		return nil, 0, err
	}
	exp, err := s.checkLease(owner, nowMs, expMs)
	if err != nil {
		return nil, 0, err
	}
	e, _, err := s.lockJob(id)
	return e, exp, err
}

func (s *Store) claimLocked(ctx context.Context, e *entry, rec *jobRecord, owner string, nowMs, exp int64) (*Job, error) {
	if rec.Status != StatusStreaming || len(rec.Execution) == 0 ||
		(rec.LeaseOwner != "" && rec.LeaseExpiresMs > nowMs) {
		return nil, nil
	}
	t := s.begin(rec, owner)
	defer t.b.Close()
	body := &claimBody{JobID: e.id, Owner: owner, ExpiresMs: exp}
	if rec.Attempts >= 1 {
		body.Reset = true
		body.Base = contentBase(rec.Execution)
		if len(body.Base) > s.cfg.MaxContentBytes {
			body.Base = truncate(body.Base, s.cfg.MaxContentBytes)
		}
		// The chunks of the lost attempt are replaced: their events go too.
		var seqs []uint64
		if _, _, err := readChunks(t.b, e.id, &seqs); err != nil {
			return nil, syncerr.Internal(err, "jobs: read chunks")
		}
		for _, seq := range seqs {
			if err := t.b.Delete(synclog.SystemKey(seq)); err != nil {
				return nil, syncerr.Internal(err, "jobs: compact")
			}
		}
	}
	if err := t.emit(evClaim, body); err != nil {
		return nil, err
	}
	content, _, err := readChunks(t.b, e.id, nil)
	if err != nil {
		return nil, syncerr.Internal(err, "jobs: read chunks")
	}
	if err := t.done(ctx, e); err != nil {
		return nil, err
	}
	j := toJob(t.rec)
	j.Content = content
	return j, nil
}

// contentBase is execution.contentBase when it is a string, else "".
func contentBase(execution []byte) string {
	var x struct {
		ContentBase json.RawMessage `json:"contentBase"`
	}
	if json.Unmarshal(execution, &x) != nil {
		return ""
	}
	var base string
	if json.Unmarshal(x.ContentBase, &base) != nil {
		return ""
	}
	return base
}

// ClaimNextJob claims the oldest claimable job (by startedAt, then id), or
// returns nil. Restart recovery is this call, repeated.
func (s *Store) ClaimNextJob(ctx context.Context, owner string, nowMs, expMs int64) (*Job, error) {
	if err := s.ready(); err != nil {
		return nil, err
	}
	exp, err := s.checkLease(owner, nowMs, expMs)
	if err != nil {
		return nil, err
	}
	// The order keys are copied under s.mu (index fields change under it).
	type cand struct {
		e         *entry
		startedAt int64
	}
	s.mu.Lock()
	var cs []cand
	for _, e := range s.jobs {
		if e.status == StatusStreaming && e.hasExec {
			cs = append(cs, cand{e, e.startedAt})
		}
	}
	s.mu.Unlock()
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].startedAt != cs[j].startedAt {
			return cs[i].startedAt < cs[j].startedAt
		}
		return cs[i].e.id < cs[j].e.id
	})
	cands := make([]*entry, len(cs))
	for i := range cs {
		cands[i] = cs[i].e
	}
	for _, e := range cands {
		if !e.mu.TryLock() {
			continue // someone is writing it: it is not idle
		}
		var j *Job
		if e.rec != nil {
			j, err = s.claimLocked(ctx, e, e.rec, owner, nowMs, exp)
		}
		e.mu.Unlock()
		if err != nil || j != nil {
			return j, err
		}
	}
	return nil, nil
}

// RenewJobLease extends the live lease of owner on a streaming job to
// max(1, leaseExpiresAt - now) ms from now. It answers false when owner
// does not hold a live lease at nowMs (side-modules scenario 51).
func (s *Store) RenewJobLease(ctx context.Context, id, owner string, nowMs, expMs int64) (bool, error) {
	e, exp, err := s.lockLeased(id, owner, nowMs, expMs)
	if err != nil {
		return false, err
	}
	defer e.mu.Unlock()
	if rec := e.rec; rec.Status != StatusStreaming || rec.LeaseOwner != owner || rec.LeaseExpiresMs <= nowMs {
		return false, nil
	}
	if err := s.write(ctx, e, owner, evRenew, &renewBody{JobID: id, ExpiresMs: exp}); err != nil {
		return false, err
	}
	return true, nil
}

// UpdateJobExecution checkpoints a job's execution input under owner's
// live lease. A lost, foreign or missing lease, or a finished job, is 409
// "lease lost".
func (s *Store) UpdateJobExecution(ctx context.Context, id string, execution json.RawMessage, owner string) (bool, error) {
	if err := s.ready(); err != nil {
		return false, err
	}
	if err := firstErr(checkID("jobId", id), checkID("leaseOwner", owner)); err != nil {
		return false, err
	}
	if execution == nil || string(execution) == "null" {
		return false, syncerr.Validation("execution is required")
	}
	execution, err := s.checkJSON("execution", execution)
	if err != nil {
		return false, err
	}
	e, rec, err := s.lockJob(id)
	if err != nil {
		return false, err
	}
	defer e.mu.Unlock()
	if rec.Status == StatusStreaming && rec.LeaseOwner == "" {
		return false, leaseLost("job has no lease")
	}
	if ok, err := s.fence(rec, &owner, nil); !ok || err != nil {
		return false, err
	}
	if err := s.write(ctx, e, owner, evExec, &execBody{JobID: id, Execution: execution}); err != nil {
		return false, err
	}
	return true, nil
}
