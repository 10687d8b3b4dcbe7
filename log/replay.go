package log

import (
	"bytes"
	"context"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Folder derives state from events. Replay and the live write path use the
// same fold functions, which is what makes "replay equals live" hold: a
// writer validates a request, appends its events and folds them into the
// same batch; Rebuild folds the same events in the same order.
//
// A fold reads current state only through b (which sees b's own earlier
// writes) and writes only state keyspaces. Folds of sync entries read only
// sync state of the same workspace; folds of system events read only
// system state. So replaying all system events (by seq) and then all sync
// entries (by workspace and version) reproduces the live state.
type Folder interface {
	FoldChange(b *Batch, ws string, version uint64, rec *ChangeRecord) error
	FoldSystem(b *Batch, seq uint64, ev *SystemEvent) error
}

// eventKeyspaces are copied verbatim by Rebuild.
var eventKeyspaces = []byte{PrefixMeta, PrefixChange, PrefixSystem, PrefixOrigin, PrefixApplied}

// Rebuild replays every event visible in src into dst, which must be
// empty: it copies the event keyspaces and folds each event through f,
// committing every batchEvents events.
func Rebuild(ctx context.Context, src Reader, dst *DB, f Folder, batchEvents int) error {
	if batchEvents <= 0 {
		batchEvents = 1000
	}
	b := dst.NewBatch()
	n := 0
	flush := func() error {
		if err := dst.Commit(ctx, b); err != nil {
			return err
		}
		b.Close()
		b = dst.NewBatch()
		n = 0
		return ctx.Err()
	}
	defer func() { b.Close() }()
	// 1. Copy the event keyspaces verbatim.
	for _, p := range eventKeyspaces {
		it, err := src.NewIter([]byte{p}, []byte{p + 1})
		if err != nil {
			return err
		}
		for ok := it.First(); ok; ok = it.Next() {
			if err := b.Set(it.Key(), it.Value()); err != nil {
				it.Close()
				return err
			}
			if n++; n >= batchEvents*4 {
				if err := flush(); err != nil {
					it.Close()
					return err
				}
			}
		}
		if err := closeIter(it); err != nil {
			return err
		}
	}
	if err := flush(); err != nil {
		return err
	}
	// 2. System events in sequence order.
	if err := foldRange(src, []byte{PrefixSystem}, func(key, val []byte) error {
		var ev SystemEvent
		if err := Decode(key, val, &ev); err != nil {
			return err
		}
		r := ReadKey(key)
		seq := r.U64()
		if r.Err() != nil {
			return &CorruptionError{Key: key, Err: r.Err()}
		}
		if err := f.FoldSystem(b, seq, &ev); err != nil {
			return fmt.Errorf("log: replay system event %d: %w", seq, err)
		}
		if n++; n >= batchEvents {
			return flush()
		}
		return nil
	}); err != nil {
		return err
	}
	// 3. Sync entries by workspace and version.
	if err := foldRange(src, []byte{PrefixChange}, func(key, val []byte) error {
		var rec ChangeRecord
		if err := Decode(key, val, &rec); err != nil {
			return err
		}
		r := ReadKey(key)
		ws := r.Str()
		v := r.U64()
		if r.Err() != nil {
			return &CorruptionError{Key: key, Err: r.Err()}
		}
		if err := f.FoldChange(b, ws, v, &rec); err != nil {
			return fmt.Errorf("log: replay %q v%d: %w", ws, v, err)
		}
		if n++; n >= batchEvents {
			return flush()
		}
		return nil
	}); err != nil {
		return err
	}
	return flush()
}

func foldRange(src Reader, prefix []byte, fn func(key, val []byte) error) error {
	it, err := src.NewIter(prefix, PrefixEnd(prefix))
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		key := append([]byte(nil), it.Key()...)
		val := append([]byte(nil), it.Value()...)
		if err := fn(key, val); err != nil {
			it.Close()
			return err
		}
	}
	return closeIter(it)
}

func closeIter(it *pebble.Iterator) error {
	err := it.Error()
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	return err
}

// DiffState compares the keyspaces with the given prefixes (default: every
// state keyspace) of a and b byte for byte and describes the first
// difference, or returns "" when they are identical.
func DiffState(a, b Reader, prefixes ...byte) (string, error) {
	if len(prefixes) == 0 {
		prefixes = stateKeyspaces
	}
	for _, p := range prefixes {
		ia, err := a.NewIter([]byte{p}, []byte{p + 1})
		if err != nil {
			return "", err
		}
		ib, err := b.NewIter([]byte{p}, []byte{p + 1})
		if err != nil {
			ia.Close()
			return "", err
		}
		okA, okB := ia.First(), ib.First()
		diff := ""
		for diff == "" && (okA || okB) {
			switch {
			case !okA:
				diff = fmt.Sprintf("key %q only in second", ib.Key())
			case !okB:
				diff = fmt.Sprintf("key %q only in first", ia.Key())
			case !bytes.Equal(ia.Key(), ib.Key()):
				diff = fmt.Sprintf("keys differ: %q vs %q", ia.Key(), ib.Key())
			case !bytes.Equal(ia.Value(), ib.Value()):
				diff = fmt.Sprintf("values differ at %q", ia.Key())
			}
			okA, okB = ia.Next(), ib.Next()
		}
		errA, errB := closeIter(ia), closeIter(ib)
		if errA != nil {
			return "", errA
		}
		if errB != nil {
			return "", errB
		}
		if diff != "" {
			return diff, nil
		}
	}
	return "", nil
}
