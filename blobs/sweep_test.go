package blobs_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/or3/syncd/blobs"
	"github.com/or3/syncd/daemon"
	"github.com/or3/syncd/storage"
	"github.com/or3/syncd/storage/s3"
	"github.com/or3/syncd/storage/storagetest"
)

// store opens the daemon's blob store beside it (to look behind the
// gateway's back).
func (e *env) store(t *testing.T) storage.Store {
	t.Helper()
	if e.cfg.Blob == "" || e.cfg.Blob == "fs" {
		return fsStore(t, e.dir)
	}
	c, err := s3.ParseURL(e.cfg.Blob)
	if err != nil {
		t.Fatal(err)
	}
	c.AccessKey, c.SecretKey = e.cfg.S3AccessKey, e.cfg.S3SecretKey
	s, err := s3.Open(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (e *env) exists(t *testing.T, key string) bool {
	t.Helper()
	return objectExists(t, e.store(t), key)
}

func (e *env) setClock(t *testing.T, offset time.Duration) {
	t.Helper()
	if err := e.c.Do(context.Background(), http.MethodPost, "/v1/test/clock", "", map[string]any{"offsetSeconds": int64(offset / time.Second)}, nil); err != nil {
		t.Fatal(err)
	}
}

func (e *env) sweep(t *testing.T) blobs.SweepResult {
	t.Helper()
	res, err := e.d.Blobs.SweepAbandoned(context.Background())
	if err != nil {
		t.Fatalf("sweep: %v", err)
	}
	return res
}

// TestSweep_AbandonedUploads: uploads whose URLs were issued but which no
// commit claimed are removed once their URL and intent have expired and
// the TTL has passed; committed ones stay; presigning the same content
// again postpones its sweep; partial transfers (fs temp files, S3
// incomplete multipart uploads) go too. Driven by the daemon's test
// clock, on fs and on MinIO; replay rebuilds the same state.
func TestSweep_AbandonedUploads(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		const ttl = 30 * time.Minute
		e := newEnv(t, backend, func(c *daemon.Config) { c.StorageUploadTTL = ttl })
		abandoned := storagetest.Bytes(70_000, 41) // uploaded, never committed
		committed := storagetest.Bytes(20_000, 42) // uploaded and committed
		neverSent := storagetest.Bytes(5_000, 43)  // presigned only
		ansA, code := e.presign(abandoned, "image/png", nil)
		if code != 200 {
			t.Fatalf("presign: %d", code)
		}
		if code := e.transfer(ansA, abandoned); code != 200 {
			t.Fatalf("PUT: %d", code)
		}
		ansB := e.upload(committed, "application/pdf")
		ansC, code := e.presign(neverSent, "image/png", nil)
		if code != 200 {
			t.Fatalf("presign: %d", code)
		}

		// Nothing is due while the URLs and intents (15 min) live, nor
		// within the TTL after.
		for _, at := range []time.Duration{0, 10 * time.Minute, blobs.IntentTTL + ttl - time.Minute} {
			e.setClock(t, at)
			if res := e.sweep(t); res != (blobs.SweepResult{}) {
				t.Fatalf("sweep at +%v: %+v, want nothing", at, res)
			}
		}
		if !e.exists(t, ansA.StorageID) {
			t.Fatal("an upload inside its TTL was removed")
		}

		// The abandoned content is presigned again at +20 min (a client
		// retrying): its sweep moves to that URL's expiry + TTL.
		e.setClock(t, 20*time.Minute)
		if _, code := e.presign(abandoned, "image/png", nil); code != 200 {
			t.Fatalf("second presign: %d", code)
		}

		// At +50 min the first round is due: the committed file is kept,
		// the never-sent one retired; the re-presigned one is not due.
		e.setClock(t, 50*time.Minute)
		if res := e.sweep(t); res.Due != 2 || res.Kept != 1 || res.Deleted != 1 {
			t.Fatalf("sweep at +50 min: %+v, want 2 due, 1 kept, 1 deleted", res)
		}
		if !e.exists(t, ansA.StorageID) || !e.exists(t, ansB.StorageID) || e.exists(t, ansC.StorageID) {
			t.Fatal("wrong objects after the first sweep")
		}

		// At +70 min the abandoned upload goes; the committed file still
		// downloads.
		e.setClock(t, 70*time.Minute)
		if res := e.sweep(t); res.Due != 1 || res.Deleted != 1 || res.Kept != 0 {
			t.Fatalf("sweep at +70 min: %+v, want the abandoned upload deleted", res)
		}
		if e.exists(t, ansA.StorageID) {
			t.Fatal("the abandoned upload survived its sweep")
		}
		dl, code := e.download(committed)
		if code != 200 {
			t.Fatalf("presign-download of the committed file: %d", code)
		}
		if code, got, _ := e.get(dl.URL, nil); code != 200 || len(got) != len(committed) {
			t.Fatalf("GET of the committed file after the sweeps: %d, %d bytes", code, len(got))
		}
		if res := e.sweep(t); res != (blobs.SweepResult{}) {
			t.Fatalf("a sweep with nothing due: %+v", res)
		}

		// Partial transfers: one is made now (real time); the sweep takes
		// those older than the longest URL (1 h) plus the TTL on the
		// daemon's clock.
		makePartial(t, e, backend)
		if res := e.sweep(t); res.Partial != 0 {
			t.Fatalf("a fresh partial transfer was swept at +70 min: %+v", res)
		}
		e.setClock(t, 70*time.Minute+blobs.MaxGrantTTL+ttl)
		if res := e.sweep(t); res.Partial != 1 {
			t.Fatalf("sweep after the partial transfer's TTL: %+v, want 1 partial", res)
		}
		st := e.d.Blobs.SweepStats()
		if st.Deleted != 2 || st.Kept != 1 || st.Partial != 1 || st.Failures != 0 || st.Runs < 6 {
			t.Fatalf("sweep stats %+v", st)
		}
		if code, body, _ := e.get("/metrics", nil); code != 200 || !strings.Contains(string(body), `syncd_blob_sweep_removed_total{kind="object"} 2`) ||
			!strings.Contains(string(body), `syncd_blob_sweep_removed_total{kind="partial"} 1`) {
			t.Fatalf("/metrics: %d, without the sweep's counters", code)
		}

		// A committed object is never touched by later sweeps either.
		e.setClock(t, 100*time.Hour)
		e.sweep(t)
		if !e.exists(t, ansB.StorageID) {
			t.Fatal("a committed object was swept")
		}
		checkReplay(t, e.d)
	})
}

// makePartial leaves one partial transfer in the store: a stalled fs
// temp file, or an S3 multipart upload with one part, never completed.
func makePartial(t *testing.T, e *env, backend string) {
	t.Helper()
	if backend == "fs" {
		p := filepath.Join(e.dir, "blobs", ".tmp", "put-stalled")
		if err := os.WriteFile(p, []byte("half an upload"), 0o600); err != nil {
			t.Fatal(err)
		}
		return
	}
	s := e.store(t).(*s3.Store)
	core := minio.Core{Client: s.Client()}
	key := storagetest.Key(t, "partial")
	id, err := core.NewMultipartUpload(context.Background(), s.Bucket(), key, minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	part := storagetest.Bytes(5<<20, 44)
	if _, err := core.PutObjectPart(context.Background(), s.Bucket(), key, id, 1, bytesReader(part), int64(len(part)), minio.PutObjectPartOptions{}); err != nil {
		t.Fatal(err)
	}
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// TestSweep_LiveRowClaims: an uncommitted upload whose hash a live
// file_meta row names (as after a commit whose blob record failed) is
// kept; one whose row is soft-deleted is removed (GC would never collect
// it: it walks the gateway's records).
func TestSweep_LiveRowClaims(t *testing.T) {
	e := newEnv(t, "fs", nil)
	live, soft := storagetest.Bytes(3000, 51), storagetest.Bytes(3000, 52)
	var keys []string
	for _, data := range [][]byte{live, soft} {
		ans, code := e.presign(data, "image/png", nil)
		if code != 200 {
			t.Fatalf("presign: %d", code)
		}
		if code := e.transfer(ans, data); code != 200 {
			t.Fatalf("PUT: %d", code)
		}
		keys = append(keys, ans.StorageID)
	}
	e.push(rowOp("file_meta", "sha256:"+hashOf(live), map[string]any{"hash": "sha256:" + hashOf(live), "storage_id": keys[0], "deleted": false}))
	e.push(rowOp("file_meta", "sha256:"+hashOf(soft), map[string]any{"hash": "sha256:" + hashOf(soft), "storage_id": keys[1], "deleted": true}))
	e.setClock(t, blobs.IntentTTL+blobs.DefaultAbandonedUploadTTL+time.Minute)
	if res := e.sweep(t); res.Due != 2 || res.Kept != 1 || res.Deleted != 1 {
		t.Fatalf("sweep: %+v, want 1 kept, 1 deleted", res)
	}
	if !e.exists(t, keys[0]) || e.exists(t, keys[1]) {
		t.Fatal("want the live row's object kept and the soft-deleted row's removed")
	}
	checkReplay(t, e.d)
}
