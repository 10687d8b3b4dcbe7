package admin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/or3/syncd/storage/s3"
	"github.com/or3/syncd/syncerr"
)

// S3 backups.
//
// A backup to s3://bucket/prefix?endpoint=host:port[&secure=false] holds
// the same files as a directory backup, as objects under prefix/: the
// server first takes the consistent local backup (a Pebble checkpoint,
// hard links, beside the data dir), then uploads every file, hashing it
// on the way, and uploads prefix/manifest.json, listing every file with
// its size and SHA-256, LAST. A backup without the manifest (interrupted,
// crashed, still running) is never complete: restore refuses it. Restore
// downloads every file the manifest lists into a staging directory,
// checks each size and SHA-256, fsyncs, and renames the staging directory
// to the data dir only when everything matched.
//
// The URL takes storage/s3's parameters (endpoint, secure, path-style,
// region); credentials come from SYNCD_S3_ACCESS_KEY and
// SYNCD_S3_SECRET_KEY, never the URL.

// S3Target is a parsed s3://bucket/prefix backup location.
type S3Target struct {
	Config s3.Config // bucket, endpoint, TLS, addressing (no credentials)
	Prefix string    // object-name prefix, without leading or trailing "/"
}

// IsS3Target reports whether a backup location names S3 rather than a
// directory.
func IsS3Target(loc string) bool { return strings.HasPrefix(loc, "s3://") }

// ParseS3Target parses s3://bucket/prefix?endpoint=host:port[&secure=false]
// [&path-style=false][&region=r]. The prefix is required: a backup never
// spreads over a bucket's root.
func ParseS3Target(raw string) (S3Target, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "s3" {
		return S3Target{}, syncerr.Validation("%q is not s3://bucket/prefix?endpoint=host:port", raw)
	}
	prefix := strings.Trim(u.Path, "/")
	if prefix == "" {
		return S3Target{}, syncerr.Validation("%q names no prefix: use s3://bucket/prefix?endpoint=host:port", raw)
	}
	for _, seg := range strings.Split(prefix, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return S3Target{}, syncerr.Validation("%q: the prefix %q has an empty, . or .. segment", raw, prefix)
		}
	}
	bare := *u
	bare.Path, bare.RawPath = "", ""
	cfg, err := s3.ParseURL(bare.String())
	if err != nil {
		return S3Target{}, syncerr.Validation("%v", err)
	}
	return S3Target{Config: cfg, Prefix: prefix}, nil
}

// String is the canonical URL of the target (no credentials).
func (t S3Target) String() string {
	q := url.Values{"endpoint": {t.Config.Endpoint}}
	if !t.Config.Secure {
		q.Set("secure", "false")
	}
	if !t.Config.PathStyle {
		q.Set("path-style", "false")
	}
	if t.Config.Region != "" {
		q.Set("region", t.Config.Region)
	}
	return "s3://" + t.Config.Bucket + "/" + t.Prefix + "?" + q.Encode()
}

func (t S3Target) object(rel string) string { return t.Prefix + "/" + rel }

// S3Credentials are the access and secret keys of an S3 backup.
type S3Credentials struct {
	AccessKey, SecretKey string
	// Transport, if set, replaces the HTTP transport (tests inject
	// faults).
	Transport http.RoundTripper
}

// s3Parallel is how many files an S3 backup or restore moves at once.
const s3Parallel = 4

func newS3Client(t S3Target, cred S3Credentials) (*minio.Client, error) {
	opts := &minio.Options{
		Creds:      credentials.NewStaticV4(cred.AccessKey, cred.SecretKey, ""),
		Secure:     t.Config.Secure,
		Region:     t.Config.Region,
		Transport:  cred.Transport,
		MaxRetries: 3,
		// Lets an upload carry its SHA-256 as x-amz-checksum-sha256.
		TrailingHeaders: true,
	}
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if t.Config.PathStyle {
		opts.BucketLookup = minio.BucketLookupPath
	} else {
		opts.BucketLookup = minio.BucketLookupDNS
	}
	c, err := minio.New(t.Config.Endpoint, opts)
	if err != nil {
		return nil, fmt.Errorf("admin: s3: %w", err)
	}
	return c, nil
}

func isNoSuchKey(err error) bool {
	r := minio.ToErrorResponse(err)
	return r.Code == "NoSuchKey" || r.StatusCode == http.StatusNotFound && r.Code != "NoSuchBucket"
}

// backupS3 takes the local consistent backup beside the data dir, uploads
// it under t.Prefix and the manifest, with checksums, last.
func (s *Service) backupS3(ctx context.Context, raw string, progress Progress) (BackupResult, error) {
	start := time.Now()
	progress = throttled(progress)
	t, err := ParseS3Target(raw)
	if err != nil {
		return BackupResult{}, err
	}
	cred := S3Credentials{AccessKey: s.cfg.S3AccessKey, SecretKey: s.cfg.S3SecretKey, Transport: s.cfg.S3Transport}
	cl, err := newS3Client(t, cred)
	if err != nil {
		return BackupResult{}, err
	}
	bucket := t.Config.Bucket
	ok, err := cl.BucketExists(ctx, bucket)
	if err != nil {
		return BackupResult{}, errUnavailable("s3: bucket %s: %v", bucket, err)
	}
	if !ok {
		if err := cl.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: t.Config.Region}); err != nil {
			if code := minio.ToErrorResponse(err).Code; code != "BucketAlreadyOwnedByYou" && code != "BucketAlreadyExists" {
				return BackupResult{}, errUnavailable("s3: create bucket %s: %v", bucket, err)
			}
		}
	}
	switch _, err := cl.StatObject(ctx, bucket, t.object(ManifestFile), minio.StatObjectOptions{}); {
	case err == nil:
		return BackupResult{}, syncerr.Conflict("%s already holds a complete backup; choose another prefix", t)
	case !isNoSuchKey(err):
		return BackupResult{}, errUnavailable("s3: %v", err)
	}
	// 1. The consistent local copy (hard links on the data dir's
	//    filesystem), staged beside the data dir and removed at the end.
	work, err := os.MkdirTemp(s.cfg.DataDir, ".backup-s3-")
	if err != nil {
		return BackupResult{}, err
	}
	defer os.RemoveAll(work)
	// Not durable: the staged copy is read once and removed; the upload
	// (manifest last) is what makes the backup.
	local, err := backup(ctx, s.db, s.cfg.DataDir, filepath.Join(work, "bk"), s.cfg.Version, s.cfg.Region, s.cfg.Now, progress, false)
	if err != nil {
		return BackupResult{}, err
	}
	m := local.Manifest
	// 2. Every file, hashed as it goes up. An upload that fails leaves no
	//    manifest, so the objects already up never form a complete backup;
	//    they are removed (best effort).
	var done atomic.Int64
	sums := make([]string, len(m.Files))
	err = parallel(ctx, len(m.Files), func(ctx context.Context, i int) error {
		f := m.Files[i]
		in, err := os.Open(filepath.Join(local.Dir, filepath.FromSlash(f.Path)))
		if err != nil {
			return err
		}
		defer in.Close()
		// One read: the file streams up as it is hashed for the manifest
		// (the end-to-end check restore makes); single-part up to 5 GiB,
		// so nothing is buffered.
		h := sha256.New()
		opts := minio.PutObjectOptions{ContentType: "application/octet-stream", DisableContentSha256: true,
			Progress: &progressReader{n: &done, report: func(n int64) { progress("upload", n, m.Bytes) }}}
		if f.Size <= 5<<30 {
			opts.DisableMultipart = true
		} else {
			opts.PartSize = 64 << 20
		}
		if _, err := cl.PutObject(ctx, bucket, t.object(f.Path), io.TeeReader(in, h), f.Size, opts); err != nil {
			return fmt.Errorf("upload %s: %w", f.Path, err)
		}
		sums[i] = hex.EncodeToString(h.Sum(nil))
		return nil
	})
	if err != nil {
		s.removeS3(cl, t, m.Files)
		if ctx.Err() != nil {
			return BackupResult{}, ctx.Err()
		}
		return BackupResult{}, errUnavailable("s3 backup to %s failed (no manifest was written, so it is not a backup): %v", t, err)
	}
	for i := range m.Files {
		m.Files[i].SHA256 = sums[i]
	}
	// 3. The manifest, last: its presence makes the backup complete.
	data, _ := json.MarshalIndent(m, "", "  ")
	if _, err := cl.PutObject(ctx, bucket, t.object(ManifestFile), bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{ContentType: "application/json"}); err != nil {
		s.removeS3(cl, t, m.Files)
		return BackupResult{}, errUnavailable("s3 backup to %s: manifest upload failed (not a backup): %v", t, err)
	}
	return BackupResult{Dir: t.String(), Bytes: m.Bytes, Files: len(m.Files), DurationMs: time.Since(start).Milliseconds(), Manifest: m}, nil
}

// removeS3 deletes the objects of a failed backup, best effort: without a
// manifest they are not a backup anyway.
func (s *Service) removeS3(cl *minio.Client, t S3Target, files []ManifestEntry) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, f := range files {
		if err := cl.RemoveObject(ctx, t.Config.Bucket, t.object(f.Path), minio.RemoveObjectOptions{}); err != nil && !isNoSuchKey(err) {
			s.log.Warn("s3 backup: leftover object of a failed backup", "object", t.object(f.Path), "err", err)
			return
		}
	}
}

// ReadS3Manifest reads the manifest of the complete backup at t. A prefix
// without one (an interrupted backup) is an error.
func ReadS3Manifest(ctx context.Context, t S3Target, cred S3Credentials) (Manifest, error) {
	cl, err := newS3Client(t, cred)
	if err != nil {
		return Manifest{}, err
	}
	return readS3Manifest(ctx, cl, t)
}

func readS3Manifest(ctx context.Context, cl *minio.Client, t S3Target) (Manifest, error) {
	var m Manifest
	obj, err := cl.GetObject(ctx, t.Config.Bucket, t.object(ManifestFile), minio.GetObjectOptions{})
	if err != nil {
		return m, fmt.Errorf("%s: %w", t, err)
	}
	defer obj.Close()
	data, err := io.ReadAll(io.LimitReader(obj, 64<<20))
	if err != nil {
		if isNoSuchKey(err) {
			return m, fmt.Errorf("%s is not a complete syncd backup (no %s; an interrupted backup is never complete)", t, ManifestFile)
		}
		return m, fmt.Errorf("%s: %w", t, err)
	}
	if err := json.Unmarshal(data, &m); err != nil || m.Format != 1 {
		return m, fmt.Errorf("%s: unreadable manifest (format %d): %v", t, m.Format, err)
	}
	for _, f := range m.Files {
		if len(f.SHA256) != 64 || !validRelPath(f.Path) {
			return m, fmt.Errorf("%s: manifest entry %q has no checksum or an unsafe path", t, f.Path)
		}
	}
	return m, nil
}

// validRelPath accepts the slash-separated relative paths a backup lists
// and nothing that could leave the data dir.
func validRelPath(p string) bool {
	if p == "" || path.IsAbs(p) || strings.Contains(p, "\\") || path.Clean(p) != p {
		return false
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// RestoreS3 restores the complete S3 backup at raw into dataDir, which
// must not exist or be empty (ErrNotEmpty otherwise). Files are
// downloaded into dataDir+".restore-partial", each checked against the
// manifest's size and SHA-256 and fsynced; only then is the staging
// directory renamed to dataDir. A failed restore leaves dataDir as it
// was.
func RestoreS3(ctx context.Context, raw string, cred S3Credentials, dataDir string, progress Progress) (Manifest, error) {
	progress = throttled(progress)
	t, err := ParseS3Target(raw)
	if err != nil {
		return Manifest{}, err
	}
	cl, err := newS3Client(t, cred)
	if err != nil {
		return Manifest{}, err
	}
	m, err := readS3Manifest(ctx, cl, t)
	if err != nil {
		return m, err
	}
	dataDir = filepath.Clean(dataDir)
	entries, err := os.ReadDir(dataDir)
	exists := err == nil
	switch {
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return m, err
	case len(entries) > 0:
		return m, fmt.Errorf("%w: %s holds %d entries; restore only into a new or empty data directory", ErrNotEmpty, dataDir, len(entries))
	}
	staging := dataDir + ".restore-partial"
	if _, err := os.Lstat(staging); err == nil {
		return m, fmt.Errorf("%s exists: an earlier restore was interrupted (or is running); remove it first", staging)
	}
	if err := os.MkdirAll(staging, 0o700); err != nil {
		return m, err
	}
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(staging)
		}
	}()
	var done atomic.Int64
	err = parallel(ctx, len(m.Files), func(ctx context.Context, i int) error {
		f := m.Files[i]
		obj, err := cl.GetObject(ctx, t.Config.Bucket, t.object(f.Path), minio.GetObjectOptions{})
		if err != nil {
			return fmt.Errorf("download %s: %w", f.Path, err)
		}
		defer obj.Close()
		dst := filepath.Join(staging, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return err
		}
		out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		h := sha256.New()
		r := &countingReader{r: obj, n: &done, progress: func(n int64) { progress("download", n, m.Bytes) }}
		n, err := io.Copy(io.MultiWriter(out, h), io.LimitReader(r, f.Size+1))
		if err == nil {
			err = out.Sync()
		}
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		switch {
		case err != nil && isNoSuchKey(err):
			return fmt.Errorf("backup incomplete: %s is missing", f.Path)
		case err != nil:
			return fmt.Errorf("download %s: %w", f.Path, err)
		case n != f.Size:
			return fmt.Errorf("backup damaged: %s is %d bytes, the manifest says %d", f.Path, n, f.Size)
		case !checksumIs(h, f.SHA256):
			return fmt.Errorf("backup damaged: %s does not match its SHA-256 in the manifest", f.Path)
		}
		return nil
	})
	if err != nil {
		return m, err
	}
	if err := syncDirs(staging); err != nil {
		return m, err
	}
	if exists {
		if err := os.Remove(dataDir); err != nil { // empty, checked above
			return m, err
		}
	}
	if err := os.Rename(staging, dataDir); err != nil {
		return m, err
	}
	if err := syncPath(filepath.Dir(dataDir)); err != nil {
		return m, err
	}
	ok = true
	return m, nil
}

func checksumIs(h hash.Hash, want string) bool {
	return hex.EncodeToString(h.Sum(nil)) == want
}

// parallel runs fn(i) for i in [0, n) on up to s3Parallel goroutines and
// returns the first error; the others are cancelled.
func parallel(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next  atomic.Int64
		once  sync.Once
		first error
		wg    sync.WaitGroup
	)
	for range min(s3Parallel, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

// countingReader adds what it reads to n and reports the total.
type countingReader struct {
	r        io.Reader
	n        *atomic.Int64
	progress func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	if k > 0 {
		c.progress(c.n.Add(int64(k)))
	}
	return k, err
}

// throttled makes progress safe for concurrent use and reports a phase at
// most every 100 ms (and always its first and final report).
func throttled(progress Progress) Progress {
	if progress == nil {
		return func(string, int64, int64) {}
	}
	var mu sync.Mutex
	var last time.Time
	var phase string
	return func(ph string, done, total int64) {
		mu.Lock()
		defer mu.Unlock()
		if ph == phase && done != total && time.Since(last) < 100*time.Millisecond {
			return
		}
		phase, last = ph, time.Now()
		progress(ph, done, total)
	}
}

// progressReader is minio's upload progress hook: it is read as many
// bytes as went up.
type progressReader struct {
	n      *atomic.Int64
	report func(int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	p.report(p.n.Add(int64(len(b))))
	return len(b), nil
}
