// Package storage is the blob-store interface syncd's storage gateway
// (package blobs) writes to, with one sub-package per backend: fs (files
// under the data directory, the default) and s3 (MinIO or any S3 through
// minio-go). storagetest is the behavioural suite every backend passes.
//
// Keys are built by syncd only, from hex digests (see ValidKey): no string
// a client sends ever becomes a key, so no client path reaches a
// filesystem or a bucket.
package storage

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"
)

// Sentinel errors every backend returns (wrapped or not; match with
// errors.Is). Any other error means the store could not be reached or
// failed; the gateway answers it with 503 and changes nothing.
var (
	// ErrNotFound: no object under the key.
	ErrNotFound = errors.New("storage: object not found")
	// ErrInvalidKey: the key is not a key ValidKey accepts.
	ErrInvalidKey = errors.New("storage: invalid key")
	// ErrSizeMismatch: Put's reader gave more or fewer bytes than
	// PutOptions.Size. Nothing was stored.
	ErrSizeMismatch = errors.New("storage: size does not match")
	// ErrDigestMismatch: Put's bytes do not hash to PutOptions.SHA256.
	// Nothing was stored.
	ErrDigestMismatch = errors.New("storage: SHA-256 digest does not match")
)

// MaxKeyLen bounds a key.
const MaxKeyLen = 256

// Object describes a stored object.
type Object struct {
	Key         string
	Size        int64
	ContentType string
	// SHA256 is the raw SHA-256 digest of the content when the store knows
	// it (it verified or computed it at Put), else nil.
	SHA256 []byte
}

// PutOptions describe the bytes Put stores.
type PutOptions struct {
	// Size is the exact number of bytes; a reader that yields more or
	// fewer fails with ErrSizeMismatch and stores nothing. Required (≥ 0).
	Size int64
	// ContentType is stored with the object and returned by Stat and Get.
	ContentType string
	// SHA256, when set (32 bytes), is the digest the content must have;
	// the store verifies it before the object becomes visible and fails
	// with ErrDigestMismatch otherwise.
	SHA256 []byte
}

// Store is a blob store. Objects are immutable once visible: Put either
// makes the whole object visible (replacing an older one under the key)
// or nothing. All methods are safe for concurrent use.
type Store interface {
	// Put stores exactly o.Size bytes from r under key.
	Put(ctx context.Context, key string, r io.Reader, o PutOptions) (Object, error)
	// Get returns a reader over the object's bytes [offset, offset+length)
	// (length < 0: to the end). offset must be within the object. The
	// caller closes the reader.
	Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, Object, error)
	// Stat describes the object under key, or ErrNotFound.
	Stat(ctx context.Context, key string) (Object, error)
	// Delete removes the object under key. Deleting a missing object is
	// not an error.
	Delete(ctx context.Context, key string) error
}

// Presigner is implemented by stores that clients can reach directly
// (S3): they hand out URLs that let the bearer PUT or GET one object
// until the URL expires. Stores without it (fs) are reached through
// syncd's own PUT/GET /v1/blobs/{grant}.
type Presigner interface {
	// PresignPut returns a URL and the headers the upload must carry to
	// store exactly the object o describes under key.
	PresignPut(ctx context.Context, key string, o PutOptions, ttl time.Duration) (url string, headers http.Header, err error)
	// PresignGet returns a URL to download key; disposition, when not
	// empty, is returned as the response's Content-Disposition.
	PresignGet(ctx context.Context, key string, ttl time.Duration, disposition string) (string, error)
}

// Sweeper is implemented by stores that can hold the remains of uploads
// that never finished: the fs backend's temporary files of interrupted
// or stalled Puts, an S3 bucket's incomplete multipart uploads. The
// gateway calls it on its sweep schedule.
type Sweeper interface {
	// SweepPartial removes the partial uploads started before `before`
	// (judged by the store's own timestamps: a temp file's modification
	// time, a multipart upload's initiation time) and answers how many it
	// removed. A transfer still running but started before `before` fails.
	SweepPartial(ctx context.Context, before time.Time) (int, error)
}

// ValidKey reports whether key is a key syncd builds: 1..4 segments of
// 1..64 characters [0-9a-z], separated by "/". No dots, no empty segment,
// nothing a filesystem or an object store could read as a path escape.
func ValidKey(key string) bool {
	if key == "" || len(key) > MaxKeyLen {
		return false
	}
	segs, seg := 1, 0
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c == '/':
			if seg == 0 {
				return false
			}
			segs, seg = segs+1, 0
			if segs > 4 {
				return false
			}
		case c >= '0' && c <= '9', c >= 'a' && c <= 'z':
			seg++
			if seg > 64 {
				return false
			}
		default:
			return false
		}
	}
	return seg > 0
}
