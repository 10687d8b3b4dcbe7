package s3

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	msigner "github.com/minio/minio-go/v7/pkg/signer"

	"github.com/or3/syncd/storage"
)

const (
	exampleAccess = "AKIAIOSFODNN7EXAMPLE"
	exampleSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

// TestSigner_AWSPresignExample: the presigned GET of AWS's Signature V4
// documentation ("Authenticating Requests: Using Query Parameters"),
// byte for byte.
func TestSigner_AWSPresignExample(t *testing.T) {
	s := newSigner(Config{Endpoint: "s3.amazonaws.com", Bucket: "examplebucket", AccessKey: exampleAccess, SecretKey: exampleSecret, Secure: true}, "us-east-1")
	at := time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)
	got := s.presign(http.MethodGet, "test.txt", at, 24*time.Hour, nil)
	want := "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
	if got != want {
		t.Fatalf("presigned URL\n got %s\nwant %s", got, want)
	}
}

// TestSigner_SameAsMinioGo: the presigned PUT (type and checksum signed)
// and the checksum-mode HEAD are signed exactly as minio-go's signer
// signs the same requests at the same second, path-style and
// virtual-host, default port and not.
func TestSigner_SameAsMinioGo(t *testing.T) {
	for _, c := range []Config{
		{Endpoint: "127.0.0.1:9000", Bucket: "b1", PathStyle: true},
		{Endpoint: "minio.example:443", Bucket: "b2", PathStyle: true, Secure: true},
		{Endpoint: "s3.example", Bucket: "b3", Secure: true},
	} {
		c.AccessKey, c.SecretKey = exampleAccess, exampleSecret
		s := newSigner(c, "eu-west-3")
		key := "w0123abcd/ab/ab0123"

		// Presigned PUT.
		req, _ := http.NewRequest(http.MethodPut, s.scheme+"://"+s.host+s.path(key), nil)
		req.Header.Set("Content-Type", "image/png")
		req.Header.Set("X-Amz-Checksum-Sha256", "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=")
		ref := msigner.PreSignV4(*req, exampleAccess, exampleSecret, "", "eu-west-3", 900).URL
		at, err := time.Parse(amzDate, ref.Query().Get("X-Amz-Date"))
		if err != nil {
			t.Fatal(err)
		}
		want := ref.String()
		got := s.presign(http.MethodPut, key, at, 900*time.Second, map[string]string{"content-type": "image/png", "x-amz-checksum-sha256": "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg="})
		if got != want {
			t.Fatalf("%s: presigned PUT\n got %s\nwant %s", c.Endpoint, got, want)
		}

		// HEAD.
		hr, err := s.headRequest(context.Background(), key, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		at, err = time.Parse(amzDate, hr.Header.Get("X-Amz-Date"))
		if err != nil {
			t.Fatal(err)
		}
		head, _ := http.NewRequest(http.MethodHead, hr.URL.String(), nil)
		head.Header.Set("X-Amz-Checksum-Mode", "ENABLED")
		head.Header.Set("X-Amz-Content-Sha256", emptySHA256)
		for range 3 { // minio-go takes the time itself: retry across a second boundary
			signed := msigner.SignV4(*head, exampleAccess, exampleSecret, "", "eu-west-3")
			if signed.Header.Get("X-Amz-Date") != at.Format(amzDate) {
				hr, _ = s.headRequest(context.Background(), key, time.Now())
				at, _ = time.Parse(amzDate, hr.Header.Get("X-Amz-Date"))
				continue
			}
			if got, want := hr.Header.Get("Authorization"), signed.Header.Get("Authorization"); got != want {
				t.Fatalf("%s: HEAD Authorization\n got %s\nwant %s", c.Endpoint, got, want)
			}
			break
		}
	}
}

// TestHead_Answers: Stat's HEAD against a fake store: size, type and the
// full-object SHA-256 read back (a composite checksum is not the
// object's digest); 404 is ErrNotFound; 503 is retried; 403 and a
// redirect are errors that are not ErrNotFound; the request is signed
// and asks for the checksum.
func TestHead_Answers(t *testing.T) {
	sum := "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg="
	var calls atomic.Int64
	var answer atomic.Value // func(w http.ResponseWriter)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Method != http.MethodHead || r.Header.Get("X-Amz-Checksum-Mode") != "ENABLED" ||
			!strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential="+exampleAccess+"/") || r.URL.Path != "/bkt/a/b" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		answer.Load().(func(http.ResponseWriter))(w)
	}))
	defer srv.Close()
	// Open would check the bucket through minio-go: the Store by hand.
	cfg := Config{Endpoint: strings.TrimPrefix(srv.URL, "http://"), Bucket: "bkt", AccessKey: exampleAccess, SecretKey: exampleSecret, PathStyle: true}
	s := &Store{bucket: "bkt", sig: newSigner(cfg, "us-east-1"), maxRetries: 3, http: &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	ok := func(typ string) func(http.ResponseWriter) {
		return func(w http.ResponseWriter) {
			w.Header().Set("Content-Length", "5000")
			w.Header().Set("Content-Type", "image/png")
			w.Header().Set("X-Amz-Checksum-Sha256", sum)
			if typ != "" {
				w.Header().Set("X-Amz-Checksum-Type", typ)
			}
		}
	}
	ctx := context.Background()
	for _, typ := range []string{"", "FULL_OBJECT", "COMPOSITE"} {
		answer.Store(ok(typ))
		obj, err := s.Stat(ctx, "a/b")
		if err != nil || obj.Size != 5000 || obj.ContentType != "image/png" || (len(obj.SHA256) == 32) != (typ != "COMPOSITE") {
			t.Fatalf("checksum type %q: %+v %v", typ, obj, err)
		}
	}
	answer.Store(func(w http.ResponseWriter) { w.WriteHeader(http.StatusNotFound) })
	if _, err := s.Stat(ctx, "a/b"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("404: %v", err)
	}
	var n atomic.Int64
	answer.Store(func(w http.ResponseWriter) {
		if n.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		ok("")(w)
	})
	if obj, err := s.Stat(ctx, "a/b"); err != nil || obj.Size != 5000 {
		t.Fatalf("503 then 200: %+v %v", obj, err)
	}
	for _, code := range []int{http.StatusForbidden, http.StatusMovedPermanently} {
		answer.Store(func(w http.ResponseWriter) {
			w.Header().Set("Location", "http://elsewhere.invalid/")
			w.WriteHeader(code)
		})
		before := calls.Load()
		if _, err := s.Stat(ctx, "a/b"); err == nil || errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("%d: %v, want an error that is not ErrNotFound", code, err)
		}
		if calls.Load() != before+1 {
			t.Fatalf("%d: %d requests, want 1 (not retried, not followed)", code, calls.Load()-before)
		}
	}
}
