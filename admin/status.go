package admin

//lint:file-ignore U1000 the _msgpack fields are msgpack's as_array markers, read by reflection

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"time"

	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/syncerr"
)

// Status is GET /v1/admin/status.
type Status struct {
	Version   string `json:"version"`
	Region    string `json:"region"`
	UptimeSec int64  `json:"uptimeSeconds"`
	Log       struct {
		DiskBytes     uint64 `json:"diskBytes"`     // Pebble's files on disk
		ChangeEntries uint64 `json:"changeEntries"` // retained sync entries, all workspaces
		SystemSeq     uint64 `json:"systemSeq"`     // last system sequence number allocated
		GroupCommits  uint64 `json:"groupCommits"`
		Batches       uint64 `json:"batches"`
	} `json:"log"`
	Workspaces struct {
		Total   int `json:"total"`
		Deleted int `json:"deleted"`
		Synced  int `json:"synced"` // with sync state
	} `json:"workspaces"`
	DeviceCursors int `json:"deviceCursors"`
	Storage       struct {
		Objects int64 `json:"objects"`
		Bytes   int64 `json:"bytes"`
	} `json:"storage"`
	GC struct {
		Enabled   bool   `json:"enabled"`
		State     string `json:"state"`
		Backlog   *int64 `json:"backlog"`
		LastRun   *int64 `json:"lastRun"`
		LastError string `json:"lastError,omitempty"`
	} `json:"gc"`
	// Replication is "n/a" when replication is off.
	Replication struct {
		State  string `json:"state"`
		LagMs  *int64 `json:"lagMs"`
		Detail any    `json:"detail,omitempty"`
	} `json:"replication"`
	Admins  int    `json:"admins"`
	Healthy bool   `json:"healthy"`
	Error   string `json:"error,omitempty"`
}

// blobRecord mirrors the fields of blobs.Record status needs.
type blobRecord struct {
	_msgpack struct{} `msgpack:",as_array"`

	PK        string
	StorageID string
	Size      int64
}

// workspaceFlags mirrors the deleted flag of identity's workspace record
// (field 8 of the array); status only counts.
type workspaceFlags struct {
	_msgpack struct{} `msgpack:",as_array"`

	Name, Description, OwnerUserID, HomeRegion string
	CreatedAtMs, UpdatedAtMs                   int64
	Deleted                                    bool
}

// Status reports the region's state (one pass over small keyspaces of the
// durable view; the change log itself is not scanned).
func (s *Service) Status(ctx context.Context) (Status, error) {
	var st Status
	st.Version, st.Region = s.cfg.Version, s.cfg.Region
	st.UptimeSec = int64(s.cfg.Now().Sub(s.started) / time.Second)
	st.Replication.State = "n/a"
	if s.cfg.Replication != nil {
		st.Replication.State, st.Replication.LagMs, st.Replication.Detail = s.cfg.Replication()
	}
	if err := s.db.Healthy(); err != nil {
		st.Error = err.Error()
	} else {
		st.Healthy = true
	}
	if p := s.db.Pebble(); p != nil {
		st.Log.DiskBytes = p.Metrics().DiskSpaceUsage()
	}
	st.Log.GroupCommits, st.Log.Batches = s.db.Stats()
	err := s.read(func(v *synclog.View) error {
		if err := scan(v, synclog.PrefixCounter, func(k, val []byte) error {
			var c synclog.CounterRecord
			if err := synclog.Decode(k, val, &c); err != nil {
				return err
			}
			st.Log.ChangeEntries += c.Counter - min(c.Floor, c.Counter)
			st.Workspaces.Synced++
			return nil
		}); err != nil {
			return err
		}
		if err := scan(v, synclog.PrefixWorkspace, func(k, val []byte) error {
			var w workspaceFlags
			if synclog.Decode(k, val, &w) == nil && w.Deleted {
				st.Workspaces.Deleted++
			}
			st.Workspaces.Total++
			return nil
		}); err != nil {
			return err
		}
		if err := scan(v, synclog.PrefixCursor, func(k, val []byte) error { st.DeviceCursors++; return nil }); err != nil {
			return err
		}
		if err := scan(v, synclog.PrefixAdmin, func(k, val []byte) error { st.Admins++; return nil }); err != nil {
			return err
		}
		if err := scan(v, synclog.PrefixBlob, func(k, val []byte) error {
			var r blobRecord
			if synclog.Decode(k, val, &r) == nil {
				st.Storage.Objects++
				st.Storage.Bytes += r.Size
			}
			return nil
		}); err != nil {
			return err
		}
		it, err := v.NewIter([]byte{synclog.PrefixSystem}, []byte{synclog.PrefixSystem + 1})
		if err != nil {
			return err
		}
		if it.Last() {
			st.Log.SystemSeq = synclog.ReadKey(it.Key()).U64()
		}
		return it.Close()
	})
	if err != nil {
		return st, err
	}
	if s.cfg.Engine != nil {
		m, err := s.cfg.Engine.Maintenance(ctx)
		if err == nil {
			st.GC.Enabled, st.GC.State, st.GC.Backlog, st.GC.LastRun, st.GC.LastError = m.Enabled, m.State, m.Backlog, m.LastRun, m.LastError
		}
	}
	return st, nil
}

// scan calls fn for every key of one keyspace.
func scan(r synclog.Reader, prefix byte, fn func(k, v []byte) error) error {
	it, err := r.NewIter([]byte{prefix}, []byte{prefix + 1})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		if err := fn(it.Key(), it.Value()); err != nil {
			it.Close()
			return err
		}
	}
	err = it.Error()
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	return err
}

// Digest is GET /v1/admin/digest?workspaceId=W.
type Digest struct {
	WorkspaceID string `json:"workspaceId"`
	Digest      string `json:"digest"` // hex SHA-256
	Keys        int64  `json:"keys"`
	Deleted     int64  `json:"deleted"`
}

// WorkspaceDigest hashes a workspace's materialized state in key order:
// for every entity, its table and pk, its deleted flag, its winning
// revision (clock, hlc, opId, fingerprint) and the payload of its greatest
// put — the merge state only, never region-local versions or receipt
// times. Two regions with equal digests hold equal state.
func (s *Service) WorkspaceDigest(ctx context.Context, ws string) (Digest, error) {
	if err := checkID("workspaceId", ws); err != nil {
		return Digest{}, err
	}
	d := Digest{WorkspaceID: ws}
	h := sha256.New()
	var buf []byte
	field := func(b []byte) {
		buf = binary.BigEndian.AppendUint32(buf[:0], uint32(len(b)))
		h.Write(buf)
		h.Write(b)
	}
	err := s.read(func(v *synclog.View) error {
		prefix := synclog.RowPrefix(ws, "")
		it, err := v.NewIter(prefix, synclog.PrefixEnd(prefix))
		if err != nil {
			return err
		}
		defer it.Close()
		for ok := it.First(); ok; ok = it.Next() {
			if err := ctx.Err(); err != nil {
				return syncerr.Unavailable(err, "digest interrupted")
			}
			var row synclog.RowRecord
			if err := synclog.Decode(it.Key(), it.Value(), &row); err != nil {
				return err
			}
			deleted := row.WinnerKind == synclog.OpDelete || row.SoftDel
			field(it.Key()[len(prefix):])
			del := byte(0)
			if deleted {
				del = 1
				d.Deleted++
			}
			field([]byte{del, row.WinnerKind})
			field(binary.BigEndian.AppendUint64(nil, uint64(row.Winner.Clock)))
			field([]byte(row.Winner.HLC))
			field([]byte(row.Winner.OpID))
			field([]byte(row.Winner.Fingerprint))
			field(row.Payload)
			d.Keys++
		}
		return it.Error()
	})
	d.Digest = hex.EncodeToString(h.Sum(nil))
	return d, err
}
