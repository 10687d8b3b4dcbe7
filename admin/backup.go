package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/cockroachdb/pebble/v2"
	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/syncerr"
)

// ManifestFile names the file whose presence makes a backup complete. It
// is written last, after every other file is synced, in DIR.partial, which
// is then renamed to DIR: an interrupted backup never looks complete.
const ManifestFile = "manifest.json"

// SecretFiles are the data-dir files a backup copies beside the log: the
// service token, the cluster secret (user ids derive from it), the webhook
// key and the blob grant key. Missing ones are skipped.
var SecretFiles = []string{"token", "cluster-secret", "webhook-key", "blob-grant.key"}

// Manifest describes a complete backup.
type Manifest struct {
	Format    int               `json:"format"`
	CreatedAt int64             `json:"createdAt"` // epoch ms
	Version   string            `json:"version"`
	Region    string            `json:"region"`
	SystemSeq uint64            `json:"systemSeq"`
	Counters  map[string]uint64 `json:"counters"` // per workspace, the server_version at the checkpoint
	Files     []ManifestEntry   `json:"files"`
	Bytes     int64             `json:"bytes"`
}

// ManifestEntry is one file of a backup.
type ManifestEntry struct {
	Path string `json:"path"`
	Size int64  `json:"size"`
	// SHA256 is the file's hex SHA-256: set by S3 backups (hashed while
	// uploading, checked by RestoreS3); directory backups, whose sstables
	// are hard links, leave it out.
	SHA256 string `json:"sha256,omitempty"`
}

// Progress reports a long operation: phase, bytes (or items) done and the
// expected total (0 when unknown).
type Progress func(phase string, done, total int64)

// BackupResult answers a backup.
type BackupResult struct {
	Dir        string   `json:"dir"`
	Bytes      int64    `json:"bytes"`
	Files      int      `json:"files"`
	DurationMs int64    `json:"durationMs"`
	Manifest   Manifest `json:"-"`
}

// Backup writes a consistent online backup of the running store to dir
// (or to S3 when dir is s3://bucket/prefix?endpoint=…, see backupS3),
// which must not exist: a Pebble checkpoint of the log and state (every
// acknowledged write, taken while writes continue; sstables are hard
// links when dir is on the same filesystem, copied otherwise), the secret
// files and, for the fs backend, the blobs. Everything goes to
// dir+".partial", is fsynced, gets its manifest last, and is renamed to
// dir.
func (s *Service) Backup(ctx context.Context, actor Actor, dir string, progress Progress) (BackupResult, error) {
	if s.cfg.DataDir == "" {
		return BackupResult{}, errUnavailable("backup is not configured")
	}
	s.opMu.Lock()
	defer s.opMu.Unlock()
	var res BackupResult
	var err error
	if IsS3Target(dir) {
		res, err = s.backupS3(ctx, dir, progress)
	} else {
		res, err = backup(ctx, s.db, s.cfg.DataDir, dir, s.cfg.Version, s.cfg.Region, s.cfg.Now, progress, true)
	}
	rec := map[string]any{"dir": dir, "bytes": res.Bytes, "files": res.Files, "durationMs": res.DurationMs}
	if err != nil {
		rec["error"] = err.Error()
	}
	if aerr := s.RecordAction(context.WithoutCancel(ctx), actor, "backup", map[string]any{"dir": dir}, rec); aerr != nil && err == nil {
		s.log.Warn("backup not audited", "err", aerr)
	}
	return res, err
}

// backup writes the backup of db to dir (see Backup). durable says the
// backup must survive a crash once it is complete: every file the backup
// wrote itself is fsynced (once, as it is written; the checkpoint syncs
// its own and the hard links share the store's durable data), every
// directory it created is synced once after the manifest, then the
// rename. A staging copy (the S3 backup's, read and removed at once)
// needs none of that. The checkpoint and the copies run in the idle I/O
// class, yielding the disk to the live store (withIdleIO).
func backup(ctx context.Context, db *synclog.DB, dataDir, dir, version, region string, now func() time.Time, progress Progress, durable bool) (BackupResult, error) {
	start := time.Now()
	if progress == nil {
		progress = func(string, int64, int64) {}
	}
	dir = filepath.Clean(dir)
	if dir == "" || dir == "." {
		return BackupResult{}, syncerr.Validation("backup needs a directory")
	}
	if _, err := os.Lstat(dir); err == nil {
		return BackupResult{}, syncerr.Conflict("backup directory %s already exists", dir)
	}
	partial := dir + ".partial"
	if _, err := os.Lstat(partial); err == nil {
		return BackupResult{}, syncerr.Conflict("%s exists: an earlier backup was interrupted (or is running); remove it first", partial)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return BackupResult{}, err
	}
	if err := os.Mkdir(partial, 0o700); err != nil {
		return BackupResult{}, err
	}
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(partial)
		}
	}()
	m := Manifest{Format: 1, CreatedAt: now().UnixMilli(), Version: version, Region: region, Counters: map[string]uint64{}}
	// 1. The checkpoint: consistent, includes every acknowledged write.
	pdb := db.Pebble()
	if pdb == nil {
		return BackupResult{}, synclog.ErrUnhealthy
	}
	progress("checkpoint", 0, 0)
	v := db.View() // taken before the checkpoint: every write it holds is in the checkpoint
	if v == nil {
		return BackupResult{}, synclog.ErrUnhealthy
	}
	_ = scan(v, synclog.PrefixCounter, func(k, val []byte) error {
		var c synclog.CounterRecord
		if synclog.Decode(k, val, &c) == nil {
			m.Counters[synclog.ReadKey(k).Str()] = c.Counter
		}
		return nil
	})
	if it, err := v.NewIter([]byte{synclog.PrefixSystem}, []byte{synclog.PrefixSystem + 1}); err == nil {
		if it.Last() {
			m.SystemSeq = synclog.ReadKey(it.Key()).U64()
		}
		_ = it.Close()
	}
	v.Release()
	err := withIdleIO(func() error {
		// Sstables are hard-linked (on the data dir's filesystem); the
		// WAL, MANIFEST and OPTIONS are copied, each synced on close, and
		// the directory synced.
		if err := pdb.Checkpoint(filepath.Join(partial, "log"), pebble.WithFlushedWAL()); err != nil {
			return fmt.Errorf("admin: checkpoint: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		// 2. Secrets and fs blobs: secrets copied, blobs (immutable)
		//    hard-linked when possible, copied otherwise.
		for _, f := range SecretFiles {
			if _, err := os.Stat(filepath.Join(dataDir, f)); err != nil {
				continue
			}
			if _, err := copyForBackup(filepath.Join(dataDir, f), filepath.Join(partial, f), false, durable); err != nil {
				return err
			}
		}
		blobFiles, blobBytes, err := listTree(filepath.Join(dataDir, "blobs"))
		if err != nil {
			return err
		}
		var done int64
		for _, f := range blobFiles {
			n, err := copyForBackup(filepath.Join(dataDir, "blobs", f), filepath.Join(partial, "blobs", f), true, durable)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue // collected by storage GC meanwhile
				}
				return err
			}
			done += n
			progress("blobs", done, blobBytes)
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if durable {
			// The checkpoint's copies were synced by Pebble: only their
			// pages are left to drop.
			for _, name := range []string{"log"} {
				entries, _ := os.ReadDir(filepath.Join(partial, name))
				for _, e := range entries {
					if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && !sharedInode(fi) {
						if f, err := os.Open(filepath.Join(partial, name, e.Name())); err == nil {
							dropCache(f)
							_ = f.Close()
						}
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return BackupResult{}, err
	}
	// 3. List every file for the manifest.
	files, total, err := listTree(partial)
	if err != nil {
		return BackupResult{}, err
	}
	var listed int64
	for _, f := range files {
		fi, err := os.Stat(filepath.Join(partial, f))
		if err != nil {
			return BackupResult{}, err
		}
		listed += fi.Size()
		progress("sync", listed, total)
		m.Files = append(m.Files, ManifestEntry{Path: filepath.ToSlash(f), Size: fi.Size()})
		m.Bytes += fi.Size()
	}
	// 4. The manifest, last; then the rename makes the backup complete.
	data, _ := json.MarshalIndent(m, "", "  ")
	if err := writeFile(filepath.Join(partial, ManifestFile), data, durable); err != nil {
		return BackupResult{}, err
	}
	if durable {
		// The directories the backup created (log/ was synced by the
		// checkpoint): their entries, the manifest's included, are
		// durable before the rename.
		if err := syncDirs(filepath.Join(partial, "blobs")); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return BackupResult{}, err
		}
		if err := syncPath(partial); err != nil {
			return BackupResult{}, err
		}
	}
	if err := os.Rename(partial, dir); err != nil {
		return BackupResult{}, err
	}
	if durable {
		if err := syncPath(filepath.Dir(dir)); err != nil {
			return BackupResult{}, err
		}
	}
	ok = true
	return BackupResult{Dir: dir, Bytes: m.Bytes, Files: len(m.Files), DurationMs: time.Since(start).Milliseconds(), Manifest: m}, nil
}

// copyForBackup copies (or, with link, hard-links when possible) src to
// dst; a copy is fsynced when durable, and its pages dropped from the
// cache. It answers the bytes copied or linked.
func copyForBackup(src, dst string, link, durable bool) (int64, error) {
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return 0, err
	}
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return 0, err
	}
	if link && os.Link(src, dst) == nil {
		return fi.Size(), nil // the store's data, already durable
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fi.Mode().Perm())
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(out, in)
	if err == nil && durable {
		if err = out.Sync(); err == nil {
			dropCache(out)
		}
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// ReadManifest reads a complete backup's manifest; a directory without
// one (an interrupted backup) is an error.
func ReadManifest(dir string) (Manifest, error) {
	var m Manifest
	data, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if errors.Is(err, fs.ErrNotExist) {
		return m, fmt.Errorf("%s is not a complete syncd backup (no %s; an interrupted backup is never complete)", dir, ManifestFile)
	}
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(data, &m); err != nil || m.Format != 1 {
		return m, fmt.Errorf("%s: unreadable manifest (format %d): %v", dir, m.Format, err)
	}
	return m, nil
}

// ErrNotEmpty is returned by Restore for a data dir that holds anything.
var ErrNotEmpty = errors.New("admin: restore target is not empty")

// Restore copies the complete backup in src into dataDir, which must not
// exist or be empty (ErrNotEmpty otherwise: restore never overwrites a
// store). Every file is checked against the manifest and synced.
func Restore(src, dataDir string, progress Progress) (Manifest, error) {
	if progress == nil {
		progress = func(string, int64, int64) {}
	}
	m, err := ReadManifest(src)
	if err != nil {
		return m, err
	}
	entries, err := os.ReadDir(dataDir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return m, err
		}
	case err != nil:
		return m, err
	case len(entries) > 0:
		return m, fmt.Errorf("%w: %s holds %d entries; restore only into a new or empty data directory", ErrNotEmpty, dataDir, len(entries))
	}
	for _, f := range m.Files {
		fi, err := os.Stat(filepath.Join(src, filepath.FromSlash(f.Path)))
		if err != nil {
			return m, fmt.Errorf("backup incomplete: %w", err)
		}
		if fi.Size() != f.Size {
			return m, fmt.Errorf("backup damaged: %s is %d bytes, the manifest says %d", f.Path, fi.Size(), f.Size)
		}
	}
	var done int64
	for _, f := range m.Files {
		n, err := copyFile(filepath.Join(src, filepath.FromSlash(f.Path)), filepath.Join(dataDir, filepath.FromSlash(f.Path)), false)
		if err != nil {
			return m, err
		}
		if err := syncPath(filepath.Join(dataDir, filepath.FromSlash(f.Path))); err != nil {
			return m, err
		}
		done += n
		progress("restore", done, m.Bytes)
	}
	return m, syncDirs(dataDir)
}

// listTree lists the regular files under root (relative paths, sorted)
// and their total size. A missing root is empty.
func listTree(root string) ([]string, int64, error) {
	var out []string
	var total int64
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == root {
				return filepath.SkipAll
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out = append(out, rel)
		total += fi.Size()
		return nil
	})
	sort.Strings(out)
	return out, total, err
}

// copyFile copies src to dst (creating parents), preserving the mode;
// link tries a hard link first. It answers the bytes copied.
func copyFile(src, dst string, link bool) (int64, error) {
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return 0, err
	}
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return 0, err
	}
	if link && os.Link(src, dst) == nil {
		return fi.Size(), nil
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fi.Mode().Perm())
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return n, err
}

func syncPath(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDirs fsyncs every directory under root, root included.
func syncDirs(root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		return syncPath(p)
	})
}

// writeFile writes a new file, fsynced when durable.
func writeFile(p string, data []byte, durable bool) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err = f.Write(data); err == nil && durable {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
