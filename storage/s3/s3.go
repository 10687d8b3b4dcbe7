// Package s3 is the blob store on MinIO or any S3-compatible service,
// through minio-go. Clients upload and download straight to and from the
// object store with presigned URLs (storage.Presigner); syncd itself only
// stats, reads, writes (tests, tools) and deletes.
//
// Integrity: a Put or a presigned PUT carries the object's SHA-256 as the
// signed x-amz-checksum-sha256 header, so the object store refuses bytes
// that do not hash to it and records the digest, which Stat reads back
// (x-amz-checksum-mode). A store that does not record checksums leaves
// Object.SHA256 nil and the gateway hashes the object itself.
package s3

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/or3/syncd/storage"
)

var (
	_ storage.Store     = (*Store)(nil)
	_ storage.Presigner = (*Store)(nil)
	_ storage.Sweeper   = (*Store)(nil)
)

// Config configures a Store.
type Config struct {
	// Endpoint is host:port of the S3 API. Required.
	Endpoint string
	// Bucket is created at Open when missing. Required.
	Bucket string
	// AccessKey and SecretKey are the credentials (SYNCD_S3_ACCESS_KEY,
	// SYNCD_S3_SECRET_KEY).
	AccessKey, SecretKey string
	// Secure selects https. Default false only when ParseURL says so.
	Secure bool
	// PathStyle addresses the bucket as a path (http://host/bucket/key),
	// which MinIO and most self-hosted stores need, instead of a virtual
	// host (http://bucket.host/key). ParseURL defaults it to true.
	PathStyle bool
	// Region, when the store needs one ("us-east-1" otherwise).
	Region string
	// Transport, if set, replaces the HTTP transport (tests inject
	// faults).
	Transport http.RoundTripper
	// MaxRetries bounds minio-go's retries of one request (default 3, not
	// minio-go's 10), so an outage answers 503 in about a second.
	MaxRetries int
}

// ParseURL parses the --blob form
// s3://bucket?endpoint=host:port&secure=false[&path-style=false][&region=r].
// Credentials come from elsewhere (the environment), never the URL.
func ParseURL(raw string) (Config, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "s3" {
		return Config{}, fmt.Errorf("storage/s3: %q is not s3://bucket?endpoint=host:port", raw)
	}
	if u.User != nil {
		return Config{}, errors.New("storage/s3: put credentials in SYNCD_S3_ACCESS_KEY / SYNCD_S3_SECRET_KEY, not in the URL")
	}
	q := u.Query()
	c := Config{Bucket: u.Host, Endpoint: q.Get("endpoint"), Region: q.Get("region"), Secure: true, PathStyle: true}
	if c.Bucket == "" {
		return Config{}, fmt.Errorf("storage/s3: %q names no bucket", raw)
	}
	if c.Endpoint == "" {
		return Config{}, fmt.Errorf("storage/s3: %q has no endpoint=host:port", raw)
	}
	for name, dst := range map[string]*bool{"secure": &c.Secure, "path-style": &c.PathStyle} {
		if v := q.Get(name); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return Config{}, fmt.Errorf("storage/s3: %s=%q is not a boolean", name, v)
			}
			*dst = b
		}
	}
	for k := range q {
		switch k {
		case "endpoint", "secure", "path-style", "region":
		default:
			return Config{}, fmt.Errorf("storage/s3: unknown parameter %q in %q", k, raw)
		}
	}
	return c, nil
}

// Store is one bucket.
type Store struct {
	c      *minio.Client
	bucket string
}

// Open connects to cfg.Endpoint and creates the bucket when missing.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Endpoint == "" || cfg.Bucket == "" {
		return nil, errors.New("storage/s3: Config.Endpoint and Config.Bucket are required")
	}
	opts := &minio.Options{
		Creds:     credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:    cfg.Secure,
		Region:    cfg.Region,
		Transport: cfg.Transport,
		// Lets Put send the object's SHA-256 as x-amz-checksum-sha256.
		TrailingHeaders: true,
		MaxRetries:      cfg.MaxRetries,
	}
	if opts.MaxRetries <= 0 {
		opts.MaxRetries = 3
	}
	if opts.Region == "" {
		opts.Region = "us-east-1" // skips a GetBucketLocation round trip per presign
	}
	if cfg.PathStyle {
		opts.BucketLookup = minio.BucketLookupPath
	} else {
		opts.BucketLookup = minio.BucketLookupDNS
	}
	c, err := minio.New(cfg.Endpoint, opts)
	if err != nil {
		return nil, fmt.Errorf("storage/s3: %w", err)
	}
	s := &Store{c: c, bucket: cfg.Bucket}
	ok, err := c.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("storage/s3: bucket %s: %w", cfg.Bucket, err)
	}
	if !ok {
		if err := c.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{Region: opts.Region}); err != nil {
			if code := minio.ToErrorResponse(err).Code; code != "BucketAlreadyOwnedByYou" && code != "BucketAlreadyExists" {
				return nil, fmt.Errorf("storage/s3: create bucket %s: %w", cfg.Bucket, err)
			}
		}
	}
	return s, nil
}

// Client exposes the minio-go client (benchmarks compare with raw
// PutObject).
func (s *Store) Client() *minio.Client { return s.c }

// Bucket is the bucket's name.
func (s *Store) Bucket() string { return s.bucket }

func mapErr(key string, err error) error {
	if err == nil {
		return nil
	}
	resp := minio.ToErrorResponse(err)
	switch {
	case resp.Code == "NoSuchKey" || resp.StatusCode == http.StatusNotFound && resp.Code != "NoSuchBucket":
		return fmt.Errorf("%w: %s", storage.ErrNotFound, key)
	case resp.Code == "BadDigest" || strings.Contains(resp.Code, "Checksum") || resp.Code == "XAmzContentSHA256Mismatch":
		return fmt.Errorf("%w: %s", storage.ErrDigestMismatch, resp.Message)
	}
	return fmt.Errorf("storage/s3: %s: %w", key, err)
}

// Put implements storage.Store.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, o storage.PutOptions) (storage.Object, error) {
	if !storage.ValidKey(key) {
		return storage.Object{}, fmt.Errorf("%w: %q", storage.ErrInvalidKey, key)
	}
	if o.Size < 0 {
		return storage.Object{}, fmt.Errorf("%w: negative size", storage.ErrSizeMismatch)
	}
	er := &exactReader{r: r, left: o.Size}
	popts := minio.PutObjectOptions{ContentType: o.ContentType, DisableMultipart: o.Size <= 5<<30, DisableContentSha256: true}
	if len(o.SHA256) == 32 {
		popts.UserMetadata = map[string]string{"x-amz-checksum-sha256": base64.StdEncoding.EncodeToString(o.SHA256)}
	}
	if o.ContentType == "" {
		popts.ContentType = "application/octet-stream"
	}
	_, err := s.c.PutObject(ctx, s.bucket, key, er, o.Size, popts)
	if er.mismatch {
		return storage.Object{}, fmt.Errorf("%w: want %d bytes", storage.ErrSizeMismatch, o.Size)
	}
	if err != nil {
		return storage.Object{}, mapErr(key, err)
	}
	return storage.Object{Key: key, Size: o.Size, ContentType: popts.ContentType, SHA256: o.SHA256}, nil
}

// exactReader yields exactly left bytes of r and fails (so the upload is
// aborted and nothing stored) when r is shorter or longer.
type exactReader struct {
	r        io.Reader
	left     int64
	mismatch bool
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if err == io.EOF && e.left > 0 || err == nil && n == 0 && e.left > 0 && len(p) == 0 {
		e.mismatch = true
		return n, storage.ErrSizeMismatch
	}
	if err != nil && err != io.EOF {
		return n, err
	}
	if e.left == 0 {
		// Look one byte past the end: a longer stream must fail now,
		// before the last byte is handed over and the upload completes.
		var b [1]byte
		m, _ := io.ReadFull(e.r, b[:])
		if m > 0 {
			e.mismatch = true
			return n, storage.ErrSizeMismatch
		}
		return n, io.EOF
	}
	return n, nil
}

// Stat implements storage.Store.
func (s *Store) Stat(ctx context.Context, key string) (storage.Object, error) {
	if !storage.ValidKey(key) {
		return storage.Object{}, fmt.Errorf("%w: %q", storage.ErrInvalidKey, key)
	}
	info, err := s.c.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{Checksum: true})
	if err != nil {
		return storage.Object{}, mapErr(key, err)
	}
	return objectOf(key, info), nil
}

func objectOf(key string, info minio.ObjectInfo) storage.Object {
	obj := storage.Object{Key: key, Size: info.Size, ContentType: info.ContentType}
	if info.ChecksumSHA256 != "" && (info.ChecksumMode == "" || strings.EqualFold(info.ChecksumMode, minio.ChecksumFullObjectMode.String())) {
		if d, err := base64.StdEncoding.DecodeString(info.ChecksumSHA256); err == nil && len(d) == 32 {
			obj.SHA256 = d
		}
	}
	return obj
}

// Get implements storage.Store.
func (s *Store) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, storage.Object, error) {
	obj, err := s.Stat(ctx, key)
	if err != nil {
		return nil, obj, err
	}
	if offset < 0 || offset > obj.Size {
		return nil, obj, fmt.Errorf("storage/s3: offset %d outside object of %d bytes", offset, obj.Size)
	}
	if length < 0 || offset+length > obj.Size {
		length = obj.Size - offset
	}
	if length == 0 {
		return io.NopCloser(strings.NewReader("")), obj, nil
	}
	var gopts minio.GetObjectOptions
	if offset > 0 || length < obj.Size {
		if err := gopts.SetRange(offset, offset+length-1); err != nil {
			return nil, obj, fmt.Errorf("storage/s3: %w", err)
		}
	}
	rc, err := s.c.GetObject(ctx, s.bucket, key, gopts)
	if err != nil {
		return nil, obj, mapErr(key, err)
	}
	return rc, obj, nil
}

// Delete implements storage.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	if !storage.ValidKey(key) {
		return fmt.Errorf("%w: %q", storage.ErrInvalidKey, key)
	}
	if err := s.c.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err != nil {
		if errors.Is(mapErr(key, err), storage.ErrNotFound) {
			return nil
		}
		return mapErr(key, err)
	}
	return nil
}

// SweepPartial implements storage.Sweeper: it aborts the bucket's
// incomplete multipart uploads initiated before `before` (their parts
// cost storage until aborted and never become an object).
func (s *Store) SweepPartial(ctx context.Context, before time.Time) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the listing goroutine when we return early
	core := minio.Core{Client: s.c}
	n := 0
	for u := range s.c.ListIncompleteUploads(ctx, s.bucket, "", true) {
		if u.Err != nil {
			return n, mapErr("incomplete uploads", u.Err)
		}
		if !u.Initiated.Before(before) {
			continue
		}
		if err := core.AbortMultipartUpload(ctx, s.bucket, u.Key, u.UploadID); err != nil {
			if resp := minio.ToErrorResponse(err); resp.Code == "NoSuchUpload" {
				continue // completed or aborted meanwhile
			}
			return n, mapErr(u.Key, err)
		}
		n++
	}
	return n, ctx.Err()
}

// PresignPut implements storage.Presigner: the upload must carry the
// returned headers (Content-Type, Content-Length and, when o.SHA256 is
// set, the checksum), which are part of the signature, so the store
// accepts only the bytes the intent describes, and refuses a body of
// another length before reading it.
func (s *Store) PresignPut(ctx context.Context, key string, o storage.PutOptions, ttl time.Duration) (string, http.Header, error) {
	if !storage.ValidKey(key) {
		return "", nil, fmt.Errorf("%w: %q", storage.ErrInvalidKey, key)
	}
	h := http.Header{}
	if o.ContentType != "" {
		h.Set("Content-Type", o.ContentType)
	}
	if len(o.SHA256) == 32 {
		h.Set("x-amz-checksum-sha256", base64.StdEncoding.EncodeToString(o.SHA256))
	}
	if o.Size > 0 {
		// The length too (minio-go signs every header it is given): the
		// store refuses a longer or shorter body on its headers, before it
		// reads the body.
		h.Set("Content-Length", strconv.FormatInt(o.Size, 10))
	}
	u, err := s.c.PresignHeader(ctx, http.MethodPut, s.bucket, key, ttl, nil, h)
	if err != nil {
		return "", nil, mapErr(key, err)
	}
	return u.String(), h, nil
}

// PresignGet implements storage.Presigner.
func (s *Store) PresignGet(ctx context.Context, key string, ttl time.Duration, disposition string) (string, error) {
	if !storage.ValidKey(key) {
		return "", fmt.Errorf("%w: %q", storage.ErrInvalidKey, key)
	}
	var q url.Values
	if disposition != "" {
		q = url.Values{"response-content-disposition": {disposition}}
	}
	u, err := s.c.PresignedGetObject(ctx, s.bucket, key, ttl, q)
	if err != nil {
		return "", mapErr(key, err)
	}
	return u.String(), nil
}
