package intents

import (
	"fmt"

	synclog "github.com/or3/syncd/log"
)

// Event types of domain "intent".
const (
	Domain    = "intent"
	evReserve = "intent.reserve"
	evConsume = "intent.consume"
	evCancel  = "intent.cancel"
)

// Record is a stored upload intent (side-modules §1.1); times in epoch
// seconds. The same shape is the body of every intent event (a consume
// names ID, Workspace and StorageID; a cancel ID and Workspace).
type Record struct {
	_msgpack struct{} `msgpack:",as_array"`

	ID            string
	Workspace     string
	User          string
	Hash          string // normalized
	Mime          string // normalized
	SizeBytes     int64
	ReservedBytes int64 // 0 when the hash was already stored or reserved
	ExpiresAt     int64
	Status        string
	StorageID     string
	CreatedAt     int64
	ConsumedAt    int64
	CancelledAt   int64
}

// intentKey is 0x50 | intentId.
func intentKey(id string) []byte { return synclog.NewKey(synclog.PrefixIntent).Raw(id) }

// byWSKey is 0x51 | ws | intentId: the workspace's active intents.
func byWSKey(ws, id string) []byte { return synclog.NewKey(synclog.PrefixIntentByWS).Str(ws).Raw(id) }

func byWSPrefix(ws string) []byte { return synclog.NewKey(synclog.PrefixIntentByWS).Str(ws) }

// Register routes the intent domain of m to Fold.
func Register(m *synclog.FolderMux) { m.Handle(Domain, Fold) }

// Fold applies one intent event through b. The write path calls it right
// after appending the event and replay calls it in sequence order; it
// reads only intent state through b and takes its clock from ev.AtMs.
func Fold(b *synclog.Batch, seq uint64, ev *synclog.SystemEvent) error {
	return fold(b, seq, ev, nil)
}

// fold is Fold; for a reservation, expired (when not nil) names the
// workspace's active intents expired at the event's time, which the
// writer knows (usage.go), so the fold need not scan the active index for
// them. Replay passes nil and scans: the same set.
func fold(b *synclog.Batch, seq uint64, ev *synclog.SystemEvent, expired []string) error {
	var body Record
	if err := synclog.Decode(synclog.SystemKey(seq), ev.Body, &body); err != nil {
		return err
	}
	atSec := ev.AtMs / 1000
	switch ev.Type {
	case evReserve:
		// Retire the workspace's intents that expired by now: they count
		// for nothing and can never be consumed.
		var retire []*Record
		if expired == nil {
			if err := eachActive(b, body.Workspace, func(r *Record) (bool, error) {
				if r.ExpiresAt <= atSec {
					retire = append(retire, r)
				}
				return true, nil
			}); err != nil {
				return err
			}
		}
		for _, id := range expired {
			var r Record
			found, err := synclog.GetRecord(b, intentKey(id), &r)
			if err != nil {
				return err
			}
			if !found || r.Workspace != body.Workspace || r.Status != StatusActive || r.ExpiresAt > atSec {
				return fmt.Errorf("intents: expired intent %q is not an expired intent of %q: %w", id, body.Workspace, synclog.ErrCorrupt)
			}
			retire = append(retire, &r)
		}
		for _, r := range retire {
			r.Status = StatusExpired
			if err := b.SetRecord(intentKey(r.ID), r); err != nil {
				return err
			}
			if err := b.Delete(byWSKey(r.Workspace, r.ID)); err != nil {
				return err
			}
		}
		if err := b.SetRecord(intentKey(body.ID), &body); err != nil {
			return err
		}
		return b.Set(byWSKey(body.Workspace, body.ID), nil)
	case evConsume, evCancel:
		var rec Record
		found, err := synclog.GetRecord(b, intentKey(body.ID), &rec)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("intents: %s of unknown intent %q: %w", ev.Type, body.ID, synclog.ErrCorrupt)
		}
		if ev.Type == evConsume {
			rec.Status, rec.StorageID, rec.ConsumedAt = StatusConsumed, body.StorageID, atSec
		} else {
			rec.Status, rec.CancelledAt = StatusCancelled, atSec
		}
		if err := b.SetRecord(intentKey(rec.ID), &rec); err != nil {
			return err
		}
		return b.Delete(byWSKey(rec.Workspace, rec.ID))
	}
	return fmt.Errorf("intents: unknown event %q", ev.Type)
}
