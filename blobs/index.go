//lint:file-ignore U1000 the _msgpack fields are msgpack's as_array markers, read by reflection

package blobs

import (
	"fmt"

	synclog "github.com/or3/syncd/log"
)

// Event types of the gateway's own state (domain "blob").
const (
	evStored  = "blob.stored"
	evDeleted = "blob.deleted"
	// Domain is the FolderMux domain of the gateway's events.
	Domain = "blob"
)

// Record is an object the gateway stored: the state under 0x52 | ws | hash.
type Record struct {
	_msgpack struct{} `msgpack:",as_array"`

	PK         string // the file_meta pk (the hash as the committing client spelled it)
	StorageID  string
	Size       int64
	Mime       string
	StoredAtMs int64
}

// eventBody is the body of blob.stored and blob.deleted.
type eventBody struct {
	_msgpack struct{} `msgpack:",as_array"`

	Workspace string
	Hash      string // normalized
	Rec       Record // blob.stored only
}

func recordKey(ws, hash string) []byte {
	return synclog.NewKey(synclog.PrefixBlob).Str(ws).Raw(hash)
}

func recordPrefix(ws string) []byte { return synclog.NewKey(synclog.PrefixBlob).Str(ws) }

// Fold derives the gateway's state from one of its events; the live path
// and replay both call it.
func Fold(b *synclog.Batch, _ uint64, ev *synclog.SystemEvent) error {
	if ev.Type == evPending || ev.Type == evSwept {
		return foldPending(b, ev)
	}
	var body eventBody
	if err := synclog.Decode(nil, ev.Body, &body); err != nil {
		return err
	}
	switch ev.Type {
	case evStored:
		return b.SetRecord(recordKey(body.Workspace, body.Hash), &body.Rec)
	case evDeleted:
		return b.Delete(recordKey(body.Workspace, body.Hash))
	}
	return fmt.Errorf("blobs: unknown event type %q", ev.Type)
}

// appendEvent appends and folds one event into b.
func (g *Gateway) appendEvent(b *synclog.Batch, typ, user string, atMs int64, body *eventBody) error {
	ev := &synclog.SystemEvent{Type: typ, AtMs: atMs, Actor: user, Body: synclog.MustEncode(body)}
	seq := g.db.NextSystemSeq()
	if err := b.AppendEvent(synclog.SystemKey(seq), ev); err != nil {
		return err
	}
	return Fold(b, seq, ev)
}
