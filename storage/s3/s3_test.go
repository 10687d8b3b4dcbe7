package s3_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/or3/syncd/storage"
	"github.com/or3/syncd/storage/s3"
	"github.com/or3/syncd/storage/storagetest"
)

var bucketSeq atomic.Int64

func open(t *testing.T, tr http.RoundTripper) *s3.Store {
	t.Helper()
	env := storagetest.RequireS3(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bucket := fmt.Sprintf("syncd-test-%d-%d", time.Now().UnixNano()%1e9, bucketSeq.Add(1))
	s, err := s3.Open(ctx, s3.Config{Endpoint: env.Endpoint, Bucket: bucket, AccessKey: env.AccessKey, SecretKey: env.SecretKey, PathStyle: true, Transport: tr})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestStore_Conformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return open(t, nil) })
}

func TestOpen_CreatesBucketOnce(t *testing.T) {
	s := open(t, nil)
	env := storagetest.RequireS3(t)
	// Opening again finds the bucket.
	if _, err := s3.Open(context.Background(), s3.Config{Endpoint: env.Endpoint, Bucket: s.Bucket(), AccessKey: env.AccessKey, SecretKey: env.SecretKey, PathStyle: true}); err != nil {
		t.Fatalf("second Open: %v", err)
	}
}

func TestPresign_PutAndGet(t *testing.T) {
	s := open(t, nil)
	ctx := context.Background()
	data := storagetest.Bytes(5000, 9)
	sum := sha256.Sum256(data)
	key := storagetest.Key(t, "p")
	u, h, err := s.PresignPut(ctx, key, storage.PutOptions{Size: int64(len(data)), ContentType: "image/png", SHA256: sum[:]}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	put := func(body []byte, hdr http.Header) int {
		req, _ := http.NewRequest(http.MethodPut, u, bytes.NewReader(body))
		for k, v := range hdr {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	t.Run("OtherBytesRefused", func(t *testing.T) {
		other := append([]byte(nil), data...)
		other[0] ^= 1
		if code := put(other, h); code/100 == 2 {
			t.Fatalf("PUT of other bytes answered %d", code)
		}
		if _, err := s.Stat(ctx, key); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("object stored after a refused PUT: %v", err)
		}
	})
	t.Run("OtherLengthRefusedOnItsHeaders", func(t *testing.T) {
		// The signed Content-Length: refused as a signature mismatch
		// (403), not after reading the body (a checksum error is 400).
		for _, body := range [][]byte{append(append([]byte(nil), data...), 0), data[:len(data)-1]} {
			if code := put(body, h); code != http.StatusForbidden {
				t.Fatalf("PUT of %d bytes for %d answered %d, want 403", len(body), len(data), code)
			}
		}
		if _, err := s.Stat(ctx, key); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("object stored after a refused PUT: %v", err)
		}
	})
	t.Run("HeadersRequired", func(t *testing.T) {
		if code := put(data, http.Header{}); code/100 == 2 {
			t.Fatalf("PUT without the signed headers answered %d", code)
		}
	})
	if code := put(data, h); code != http.StatusOK {
		t.Fatalf("PUT answered %d", code)
	}
	obj, err := s.Stat(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if obj.Size != int64(len(data)) || obj.ContentType != "image/png" || !bytes.Equal(obj.SHA256, sum[:]) {
		t.Fatalf("Stat = %+v", obj)
	}
	g, err := s.PresignGet(ctx, key, time.Minute, `attachment; filename="x.png"`)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(g)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !bytes.Equal(got, data) || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("GET answered %d, %d bytes, disposition %q", resp.StatusCode, len(got), resp.Header.Get("Content-Disposition"))
	}
}

// failing is a transport that fails every request once switched on: the
// object store is down.
type failing struct{ down atomic.Bool }

func (f *failing) RoundTrip(r *http.Request) (*http.Response, error) {
	if f.down.Load() {
		return nil, errors.New("connection refused (injected)")
	}
	return http.DefaultTransport.RoundTrip(r)
}

func TestStore_OutageIsNotNotFound(t *testing.T) {
	tr := &failing{}
	s := open(t, tr)
	tr.down.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := s.Stat(ctx, storagetest.Key(t, "x"))
	if err == nil || errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat during an outage: %v; want an error that is not ErrNotFound", err)
	}
}

func TestParseURL(t *testing.T) {
	c, err := s3.ParseURL("s3://files?endpoint=127.0.0.1:9000&secure=false")
	if err != nil || c.Bucket != "files" || c.Endpoint != "127.0.0.1:9000" || c.Secure || !c.PathStyle {
		t.Fatalf("ParseURL = %+v, %v", c, err)
	}
	c, err = s3.ParseURL("s3://b?endpoint=s3.amazonaws.com&path-style=false&region=eu-west-1")
	if err != nil || !c.Secure || c.PathStyle || c.Region != "eu-west-1" {
		t.Fatalf("ParseURL = %+v, %v", c, err)
	}
	for _, bad := range []string{"", "fs", "http://b?endpoint=x", "s3://?endpoint=x", "s3://b", "s3://b?endpoint=x&secure=maybe", "s3://k:s@b?endpoint=x", "s3://b?endpoint=x&color=red"} {
		if _, err := s3.ParseURL(bad); err == nil {
			t.Errorf("ParseURL(%q) accepted", bad)
		}
	}
}

// TestSweepPartial_IncompleteMultipart: an incomplete multipart upload
// (a part stored, never completed) is aborted once the sweep's cutoff
// passes its initiation; an earlier cutoff keeps it. The cutoff is the
// caller's clock, so no test waits.
func TestSweepPartial_IncompleteMultipart(t *testing.T) {
	s := open(t, nil)
	ctx := context.Background()
	core := minio.Core{Client: s.Client()}
	key := storagetest.Key(t, "mp")
	id, err := core.NewMultipartUpload(ctx, s.Bucket(), key, minio.PutObjectOptions{ContentType: "image/png"})
	if err != nil {
		t.Fatal(err)
	}
	part := storagetest.Bytes(5<<20, 3)
	if _, err := core.PutObjectPart(ctx, s.Bucket(), key, id, 1, bytes.NewReader(part), int64(len(part)), minio.PutObjectPartOptions{}); err != nil {
		t.Fatal(err)
	}
	incomplete := func() int {
		n := 0
		for u := range s.Client().ListIncompleteUploads(ctx, s.Bucket(), "", true) {
			if u.Err != nil {
				t.Fatal(u.Err)
			}
			n++
		}
		return n
	}
	if incomplete() != 1 {
		t.Fatalf("%d incomplete uploads, want 1", incomplete())
	}
	now := time.Now()
	if n, err := s.SweepPartial(ctx, now.Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("sweep with a cutoff before the upload: %d, %v; want 0", n, err)
	}
	if n, err := s.SweepPartial(ctx, now.Add(2*time.Hour)); err != nil || n != 1 {
		t.Fatalf("sweep with a later cutoff: %d, %v; want 1", n, err)
	}
	if incomplete() != 0 {
		t.Fatal("the incomplete upload survived the sweep")
	}
	if _, err := s.Stat(ctx, key); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat after the sweep: %v, want ErrNotFound", err)
	}
}
