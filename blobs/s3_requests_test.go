package blobs_test

import (
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/or3/syncd/daemon"
	"github.com/or3/syncd/storage/storagetest"
)

// countingProxy is a reverse proxy in front of MinIO that counts the
// requests it forwards by method and query keys ("HEAD", "PUT", "GET
// ?location", ...). Presigned URLs name the proxy as their host and the
// proxy forwards the Host header unchanged, so signatures still match.
type countingProxy struct {
	addr string
	mu   sync.Mutex
	n    map[string]int
}

func newCountingProxy(tb testing.TB, endpoint string) *countingProxy {
	tb.Helper()
	p := &countingProxy{n: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: endpoint})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p.addr = ln.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k := r.Method
		var qs []string
		for q := range r.URL.Query() {
			if !strings.HasPrefix(q, "X-Amz-") {
				qs = append(qs, q)
			}
		}
		sort.Strings(qs)
		if len(qs) > 0 {
			k += " ?" + strings.Join(qs, "&")
		}
		p.mu.Lock()
		p.n[k]++
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() { _ = srv.Close() })
	return p
}

// take returns the counts since the last take and resets them.
func (p *countingProxy) take() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.n
	p.n = map[string]int{}
	return n
}

// TestS3Flow_RequestsToMinIO: a small-file flow sends the object store
// exactly one request from the client (the presigned PUT) and one from
// syncd (commit's HEAD, which reads size, type and the recorded SHA-256):
// presign signs locally, and commit never downloads the object to hash it.
func TestS3Flow_RequestsToMinIO(t *testing.T) {
	s3env := storagetest.RequireS3(t)
	p := newCountingProxy(t, s3env.Endpoint)
	e := newEnv(t, "s3", func(c *daemon.Config) { c.Blob = s3URL(t, p.addr) })
	e.upload(storagetest.Bytes(4096, 70), "image/png") // warm up (bucket lookups)
	p.take()
	const files = 5
	for i := 0; i < files; i++ {
		data := storagetest.Bytes(4096, uint64(71+i))
		ans, code := e.presign(data, "image/png", nil)
		if code != 200 {
			t.Fatalf("presign-upload: %d", code)
		}
		if n := p.take(); len(n) != 0 {
			t.Fatalf("presign-upload sent the object store %v, want nothing", n)
		}
		if code := e.transfer(ans, data); code != 200 {
			t.Fatalf("PUT: %d", code)
		}
		if n := p.take(); len(n) != 1 || n["PUT"] != 1 {
			t.Fatalf("the presigned upload: %v, want one PUT", n)
		}
		if code := e.op(e.user, "commit", e.commitBody(ans, data, "image/png"), nil); code != 200 {
			t.Fatalf("commit: %d", code)
		}
		if n := p.take(); len(n) != 1 || n["HEAD"] != 1 {
			t.Fatalf("commit sent the object store %v, want one HEAD", n)
		}
	}
}
