package log

import (
	"errors"

	"github.com/cockroachdb/pebble/v2"
)

// Batch collects one writer's events and state changes. Reads through the
// batch (Get, NewIter) see the batch's own writes over the live store, so a
// writer folding several events decides each against the state the earlier
// ones left. Batches are not safe for concurrent use.
type Batch struct {
	db         *DB
	pb         *pebble.Batch
	originKeys [][]byte
}

// NewBatch returns an empty batch reading through to the live store. The
// caller must Close it.
func (db *DB) NewBatch() *Batch {
	pdb := db.pdb.Load()
	if pdb == nil {
		// Recovering: hand out a detached batch; Commit will refuse it.
		return &Batch{db: db, pb: new(pebble.Batch)}
	}
	return &Batch{db: db, pb: pdb.NewIndexedBatch()}
}

// Set writes a state or event key.
func (b *Batch) Set(key, value []byte) error { return b.pb.Set(key, value, nil) }

// Delete removes a key.
func (b *Batch) Delete(key []byte) error { return b.pb.Delete(key, nil) }

// DeleteRange removes [start, end).
func (b *Batch) DeleteRange(start, end []byte) error { return b.pb.DeleteRange(start, end, nil) }

// SetRecord encodes v and writes it at key.
func (b *Batch) SetRecord(key []byte, v any) error {
	// The batch copies the value: encode into a pooled buffer.
	return encodeTo(v, func(data []byte) error { return b.pb.Set(key, data, nil) })
}

// AppendEvent writes an event this region accepted itself and marks it for
// the origin index: the committer numbers it with the next originSeq in
// commit order, gap-free, so replication can ship it.
func (b *Batch) AppendEvent(key []byte, v any) error {
	if err := b.SetRecord(key, v); err != nil {
		return err
	}
	b.originKeys = append(b.originKeys, append([]byte(nil), key...))
	return nil
}

// AppendRemoteEvent writes an event that another region accepted (it keeps
// its origin inside the record and is not renumbered here).
func (b *Batch) AppendRemoteEvent(key []byte, v any) error { return b.SetRecord(key, v) }

// Get reads key through the batch: the batch's own writes first, then the
// live store. It returns nil when absent.
func (b *Batch) Get(key []byte) ([]byte, error) {
	if b.pb == nil {
		return nil, errors.New("log: closed batch")
	}
	return getCopy(b.pb, key)
}

// NewIter iterates [lower, upper) through the batch.
func (b *Batch) NewIter(lower, upper []byte) (*pebble.Iterator, error) {
	return b.pb.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
}

// Len is the encoded size of the batch.
func (b *Batch) Len() int { return b.pb.Len() }

// Empty reports whether the batch holds no writes.
func (b *Batch) Empty() bool { return b.pb.Empty() && len(b.originKeys) == 0 }

// Close releases the batch.
func (b *Batch) Close() {
	if b.pb != nil {
		_ = b.pb.Close()
		b.pb = nil
	}
}

var _ Reader = (*Batch)(nil)
