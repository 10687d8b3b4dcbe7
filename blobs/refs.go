package blobs

import (
	"bytes"
	"encoding/json"
	"errors"

	synclog "github.com/or3/syncd/log"
)

// errUnprovable: a live message or post has file_hashes that do not parse,
// so no one can prove a file unreferenced (side-modules §1.4: fail closed).
var errUnprovable = errors.New("blobs: unable to prove file is unreferenced")

// fileRow is a file_meta row as the gateway reads it.
type fileRow struct {
	PK   string
	Live bool
	// Tombstoned: the winner is a delete (not a soft-deleted put).
	Tombstoned bool
	Payload    map[string]any
	// DeletedAtMs is when the row stopped being live (the winning delete's
	// receipt time, or the soft delete's: payload deleted_at in seconds,
	// else the receipt time of that put).
	DeletedAtMs int64
}

// readFileRow reads the file_meta row with pk.
func readFileRow(r synclog.Reader, ws, pk string) (fileRow, bool, error) {
	var row synclog.RowRecord
	found, err := synclog.GetRecord(r, synclog.RowKey(ws, "file_meta", pk), &row)
	if err != nil || !found {
		return fileRow{}, false, err
	}
	fr := fileRow{PK: pk}
	if row.HasPut && len(row.Payload) > 0 {
		dec := json.NewDecoder(bytes.NewReader(row.Payload))
		dec.UseNumber()             // keep numbers exactly as stored when the row is rewritten
		_ = dec.Decode(&fr.Payload) // written through the engine: an object
	}
	switch {
	case row.WinnerKind == synclog.OpDelete:
		fr.Tombstoned = true
		fr.DeletedAtMs = row.DeletedAtMs
	case row.SoftDel:
		fr.DeletedAtMs = row.UpdatedAtMs
		if n, ok := fr.Payload["deleted_at"].(json.Number); ok {
			if s, err := n.Float64(); err == nil && s > 0 {
				fr.DeletedAtMs = int64(s * 1000)
			}
		}
	default:
		fr.Live = true
	}
	return fr, true, nil
}

// findFileRow finds ws's file_meta row for a normalized hash: under the pk
// recorded when the gateway stored it, else under the usual spellings, else
// under the spelling given.
func findFileRow(r synclog.Reader, ws, hash, given string) (fileRow, bool, error) {
	cands := make([]string, 0, 4)
	var rec Record
	if found, err := synclog.GetRecord(r, recordKey(ws, hash), &rec); err != nil {
		return fileRow{}, false, err
	} else if found {
		cands = append(cands, rec.PK)
	}
	cands = append(cands, given, "sha256:"+hash, hash)
	seen := map[string]bool{}
	for _, pk := range cands {
		if pk == "" || seen[pk] {
			continue
		}
		seen[pk] = true
		fr, found, err := readFileRow(r, ws, pk)
		if err != nil || found {
			return fr, found, err
		}
	}
	return fileRow{}, false, nil
}

// referenced returns which of the normalized hashes in want are referenced
// by a live message or post of ws. It pages through every row of both
// tables (no cap), holding only want and the answer in memory.
func referenced(r synclog.Reader, ws string, want map[string]bool) (map[string]bool, error) {
	got := map[string]bool{}
	for _, table := range []string{"messages", "posts"} {
		lower := synclog.RowPrefix(ws, table)
		it, err := r.NewIter(lower, synclog.PrefixEnd(lower))
		if err != nil {
			return nil, err
		}
		for it.First(); it.Valid(); it.Next() {
			val := it.Value()
			if !bytes.Contains(val, []byte("file_hashes")) {
				continue // cheap skip: no reference can be in it
			}
			var row synclog.RowRecord
			if err := synclog.Decode(it.Key(), val, &row); err != nil {
				_ = it.Close()
				return nil, err
			}
			if row.WinnerKind != synclog.OpPut || row.SoftDel || !row.HasPut {
				continue // a deleted row references nothing
			}
			hashes, err := fileHashes(row.Payload)
			if err != nil {
				_ = it.Close()
				return nil, err
			}
			for _, h := range hashes {
				n, _ := NormalizeHash(h)
				if want[n] {
					got[n] = true
				}
			}
		}
		if err := it.Close(); err != nil {
			return nil, err
		}
	}
	return got, nil
}

// fileHashes reads a payload's file_hashes: a JSON-encoded string array
// (as OR3 stores it), an array, or null/absent. Anything else is
// errUnprovable.
func fileHashes(payload []byte) ([]string, error) {
	var p struct {
		FileHashes json.RawMessage `json:"file_hashes"`
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		return nil, errUnprovable
	}
	raw := bytes.TrimSpace(p.FileHashes)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, errUnprovable
		}
		if s == "" || s == "null" {
			return nil, nil
		}
		raw = []byte(s)
	}
	var hs []string
	if err := json.Unmarshal(raw, &hs); err != nil {
		return nil, errUnprovable
	}
	return hs, nil
}
