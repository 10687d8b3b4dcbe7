package baseline

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// loopbackBody is the trivial handler's whole response body.
var loopbackBody = []byte("ok\n")

// LoopbackHTTP starts an http.Server on 127.0.0.1:0 whose handler answers
// 200 with a 3-byte body, drives it for d with conns keep-alive clients
// each sending GETs back to back, and stops it. It is the ceiling for any
// syncd endpoint: the cost of net/http and the loopback stack with no work
// behind them.
//
// Ops counts requests, Bytes response-body bytes, Latencies one round trip
// each. Clients and server share the machine's cores, as a syncd benchmark
// driving its own server does, so compare it only with such a benchmark.
func LoopbackHTTP(conns int, d time.Duration) (Result, error) {
	if d <= 0 {
		return Result{}, fmt.Errorf("%w: d = %s, want > 0", ErrInvalid, d)
	}
	return loopbackHTTP(conns, 0, d)
}

// loopbackHTTP is LoopbackHTTP bounded by n requests or d, whichever comes
// first (0 ignores either), so benchmarks can drive it with b.N.
func loopbackHTTP(conns, n int, d time.Duration) (Result, error) {
	if conns < 1 {
		return Result{}, fmt.Errorf("%w: conns = %d, want ≥ 1", ErrInvalid, conns)
	}
	if _, err := newBound(n, d); err != nil {
		return Result{}, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Result{}, fmt.Errorf("baseline: loopback http: %w", err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write(loopbackBody) // a failed write shows up as a client error
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	tr := &http.Transport{
		Proxy:               nil, // loopback only, whatever the environment says
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		DisableCompression:  true,
	}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	url := "http://" + ln.Addr().String() + "/"

	lat := NewHistogram()
	b, _ := newBound(n, d)
	var (
		reqs, body atomic.Int64
		failed     atomic.Bool
		wg         sync.WaitGroup
		errs       = make([]error, conns)
	)
	start := time.Now()
	for c := range conns {
		wg.Go(func() {
			req, err := http.NewRequest(http.MethodGet, url, nil)
			if err != nil {
				errs[c] = err
				failed.Store(true)
				return
			}
			for !failed.Load() && b.claim() {
				t := time.Now()
				nb, err := roundTrip(client, req)
				if err != nil {
					errs[c] = err
					failed.Store(true)
					return
				}
				lat.Record(time.Since(t))
				reqs.Add(1)
				body.Add(nb)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	tr.CloseIdleConnections()
	closeErr := srv.Close()
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		closeErr = errors.Join(closeErr, err)
	}
	if err := errors.Join(append(errs, closeErr)...); err != nil {
		return Result{}, fmt.Errorf("baseline: loopback http: %w", err)
	}
	return Result{
		Name:      fmt.Sprintf("loopback-http-c%d", conns),
		Ops:       reqs.Load(),
		Bytes:     body.Load(),
		Elapsed:   elapsed,
		Latencies: lat,
	}, nil
}

// roundTrip sends req (reusable: it has no body) and drains the response so
// the connection goes back to the keep-alive pool.
func roundTrip(client *http.Client, req *http.Request) (int64, error) {
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(io.Discard, resp.Body)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %s", resp.Status)
	}
	return n, err
}
