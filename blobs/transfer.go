package blobs

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/or3/syncd/storage"
	"github.com/or3/syncd/syncerr"
)

// The fs backend's transfers through syncd: PUT and GET /v1/blobs/{grant}.
// They need no bearer token; the grant is the capability.

// errTooLong: the upload streamed more bytes than its grant allows.
var errTooLong = errors.New("blobs: upload longer than its grant")

func grantErr(err error) error {
	if errors.Is(err, ErrExpiredGrant) {
		return syncerr.Forbidden("this upload/download URL has expired; ask for a new one")
	}
	return syncerr.Forbidden("invalid upload/download URL")
}

func (g *Gateway) direct() error {
	if g.presigner != nil {
		return syncerr.NotFound("blob transfers go straight to the object store; ask presign-upload or presign-download for a URL")
	}
	return nil
}

// Upload stores the body of PUT /v1/blobs/{token}: exactly the grant's
// size (a declared Content-Length above it is 413 before anything is
// read; a stream that runs past it is 413 as soon as it does), of the
// grant's type and SHA-256 (other bytes are 409 and nothing is stored).
func (g *Gateway) Upload(ctx context.Context, token string, contentLength int64, contentType string, body io.Reader) error {
	if err := g.direct(); err != nil {
		return err
	}
	gr, err := DecodeGrant(g.cfg.GrantKey, token, OpPut, g.cfg.Now().UnixMilli())
	if err != nil {
		return grantErr(err)
	}
	switch {
	case contentLength > gr.Size:
		return syncerr.Oversized("Content-Length %d exceeds the %d bytes this URL accepts", contentLength, gr.Size)
	case contentLength >= 0 && contentLength < gr.Size:
		return syncerr.Validation("Content-Length %d does not match the %d bytes this URL expects", contentLength, gr.Size)
	case contentType != "" && NormalizeMime(contentType) != gr.ContentType:
		return syncerr.UnsupportedMedia("Content-Type %s does not match the intent's %s", NormalizeMime(contentType), gr.ContentType)
	}
	r := &capReader{r: body, left: gr.Size}
	_, err = g.store.Put(ctx, gr.Key, r, storage.PutOptions{Size: gr.Size, ContentType: gr.ContentType, SHA256: gr.SHA256[:]})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errTooLong):
		return syncerr.Oversized("upload exceeds the %d bytes this URL accepts", gr.Size)
	case errors.Is(err, storage.ErrSizeMismatch):
		return syncerr.Validation("upload is shorter than the %d bytes this URL expects", gr.Size)
	case errors.Is(err, storage.ErrDigestMismatch):
		return syncerr.Conflict("uploaded bytes do not match the intent's SHA-256")
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return syncerr.Oversized("upload too large")
	}
	if ctx.Err() != nil {
		return syncerr.Unavailable(err, "upload interrupted")
	}
	return syncerr.Unavailable(err, "could not store the upload, retry later")
}

// capReader yields at most left bytes and fails with errTooLong on the
// first byte beyond.
type capReader struct {
	r    io.Reader
	left int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left < 0 {
		return 0, errTooLong
	}
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		return n + int(c.left), errTooLong
	}
	return n, err
}

// Download is an open object to answer GET /v1/blobs/{token} with.
type Download struct {
	Body        io.ReadCloser // nil for HEAD-only use after Close
	Size        int64         // the whole object
	Offset      int64
	Length      int64
	Partial     bool // answer 206 with Content-Range
	ContentType string
	Disposition string
	ETag        string
}

// Download opens the object of a GET grant, honouring one byte range
// (RFC 9110 §14: "bytes=a-b", "bytes=a-", "bytes=-n"; anything else is
// served whole).
func (g *Gateway) Download(ctx context.Context, token, rangeHeader string) (*Download, error) {
	if err := g.direct(); err != nil {
		return nil, err
	}
	gr, err := DecodeGrant(g.cfg.GrantKey, token, OpGet, g.cfg.Now().UnixMilli())
	if err != nil {
		return nil, grantErr(err)
	}
	off, n, partial, ok := parseRange(rangeHeader, gr.Size)
	if !ok {
		return nil, &syncerr.Error{Status: http.StatusRequestedRangeNotSatisfiable, Code: syncerr.CodeValidation,
			Message: fmt.Sprintf("range not satisfiable (object of %d bytes)", gr.Size)}
	}
	rc, obj, err := g.store.Get(ctx, gr.Key, off, n)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, syncerr.NotFound("File not found")
	} else if err != nil {
		return nil, storeErr(err)
	}
	if obj.Size != gr.Size {
		_ = rc.Close()
		return nil, syncerr.NotFound("File not found") // replaced since the grant: not the file it names
	}
	d := &Download{Body: rc, Size: obj.Size, Offset: off, Length: n, Partial: partial,
		ContentType: obj.ContentType, Disposition: gr.Disposition}
	if obj.SHA256 != nil {
		d.ETag = `"` + hex.EncodeToString(obj.SHA256) + `"`
	}
	return d, nil
}

// parseRange returns the byte range to serve of an object of size bytes.
// ok is false only for a well-formed single range that is unsatisfiable.
func parseRange(h string, size int64) (off, n int64, partial, ok bool) {
	whole := func() (int64, int64, bool, bool) { return 0, size, false, true }
	spec, found := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if !found || strings.Contains(spec, ",") {
		return whole()
	}
	a, b, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return whole()
	}
	if a == "" { // suffix: the last b bytes
		k, err := strconv.ParseInt(b, 10, 64)
		if err != nil || k < 0 {
			return whole()
		}
		if k == 0 {
			return 0, 0, false, false
		}
		k = min(k, size)
		return size - k, k, true, true
	}
	start, err := strconv.ParseInt(a, 10, 64)
	if err != nil || start < 0 {
		return whole()
	}
	end := size - 1
	if b != "" {
		if end, err = strconv.ParseInt(b, 10, 64); err != nil || end < start {
			return whole()
		}
		end = min(end, size-1)
	}
	if start >= size {
		return 0, 0, false, false
	}
	return start, end - start + 1, true, true
}
