package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/or3/syncd/bench/baseline"
)

// snapshotRowBytes is the size of each row's payload in the snapshot
// workspace (issue 5: "~1 KiB each").
const snapshotRowBytes = 1024

// snapshotPK is the pk of row i of the snapshot workspace: zero-padded,
// so pk order is index order.
func snapshotPK(prefix string, i int) string { return fmt.Sprintf("s-%s-%08d", prefix, i) }

// fillSnapshotWorkspace pushes n new message rows of ~1 KiB (puts of
// distinct keys only: the workspace then holds exactly n rows) in batches
// of 100 from 8 clients, and checks every op was applied.
func (r *run) fillSnapshotWorkspace(ctx context.Context, s *wsState, n int) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var errOnce sync.Once
	var firstErr error
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	thread := "t-" + r.wl.prefix + "-snapshot"
	for c := range 8 {
		wg.Go(func() {
			device := fmt.Sprintf("dev-%s-s%d", r.wl.prefix, c)
			var bb batchBuilder
			for ctx.Err() == nil {
				lo := int(next.Add(100)) - 100
				if lo >= n {
					return
				}
				bb.reset(s.id)
				for i := lo; i < min(lo+100, n); i++ {
					pk := snapshotPK(r.wl.prefix, i)
					bb.addOp(r.wl, "messages", "put", pk, device, 1, func(p []byte) []byte {
						start := len(p)
						p = fmt.Appendf(p, `"id":%q,"thread_id":%q,"role":"user","index":%d,"order_key":"%013d:0000:dev","deleted":false,"created_at":1700000000,"updated_at":1700000000,"clock":1,"data":{"content":"`,
							pk, thread, i, 1_700_000_000_000+int64(i))
						body := max(snapshotRowBytes-(len(p)-start)-4, 16)
						off := (i * 7919) % (len(text) - body)
						p = append(p, text[off:off+body]...)
						p = append(p, `"}`...)
						r.wl.payloadBytes.Add(int64(len(p) - start + 2))
						r.wl.payloadCount.Add(1)
						return p
					})
				}
				body := bb.finish()
				res, err := r.cl.push(ctx, s.user, body)
				if err == nil {
					err = r.wl.record(s, bb.seqs, res)
				}
				if err == nil {
					for _, op := range res.Results {
						if op.Applied != nil && !*op.Applied {
							err = fmt.Errorf("op %s was not applied", op.OpID)
							break
						}
					}
				}
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("push to %s: %w", s.id, err); cancel() })
					return
				}
				r.wl.bytesSent.Add(int64(len(body)))
			}
		})
	}
	wg.Wait()
	r.entries += int64(n)
	return firstErr
}

// snapshot times a snapshot bootstrap of a workspace of SnapshotRows rows
// of ~1 KiB (pages of 1,000) by a client that pipelines its pages (it
// asks for the next page as soon as the page's token arrives, while it
// checks the current one) and checks every item: the count, the order by
// (tableName, pk, kind), no duplicates, every pushed row present. It
// samples syncd's RSS meanwhile and reports the CPU both processes used.
func (r *run) snapshot(ctx context.Context) error {
	const section = "snapshot"
	n := r.sz.SnapshotRows
	s, err := r.newWorkspace(ctx, "snapshot")
	if err != nil {
		return err
	}
	// Probe: an older syncd may not serve snapshots.
	_, err = r.cl.snapshot(ctx, s.user, s.id, "", 1)
	var se *statusError
	if errors.As(err, &se) && (se.Status == http.StatusNotFound || se.Status == http.StatusMethodNotAllowed || se.Status == http.StatusNotImplemented) {
		r.rep.NotMeasured(section, "snapshot bootstrap time", "not available", fmt.Sprintf("POST /v1/sync/snapshot answered %d: not in this syncd yet", se.Status), nil)
		r.rep.NotMeasured(section, "snapshot peak RSS", "not available", "no snapshot endpoint", nil)
		return nil
	}
	if err != nil {
		return err
	}
	if err := r.needDisk("snapshot workspace", 3*uint64(n)*(snapshotRowBytes+512)); err != nil {
		return err
	}
	fill0 := time.Now()
	if err := r.fillSnapshotWorkspace(ctx, s, n); err != nil {
		return fmt.Errorf("filling the snapshot workspace: %w", err)
	}
	fmt.Fprintf(r.logw, "bench: snapshot workspace: %d rows of ~%d B pushed in %s\n", n, snapshotRowBytes, time.Since(fill0).Round(time.Millisecond))
	// Let syncd finish the flushes and compactions the fill started, so
	// the figures are the snapshot's own.
	r.settle(ctx, time.Minute)

	// A plain client first (one page at a time, encoding/json): its rate
	// for comparison, and it warms Pebble's block cache, whose filling
	// would otherwise count as the measured chain's RSS growth.
	rssCold := r.sampleRSS()
	plain, perr := r.plainSnapshot(ctx, s)
	coldPeak, coldBefore := rssCold()
	if perr != nil {
		return fmt.Errorf("plain snapshot client: %w", perr)
	}

	rss := r.sampleRSS()
	srv0, serr0 := cpuTime(r.pid)
	own0, oerr0 := cpuTime(os.Getpid())
	chk := newSnapshotChecker(s.id, r.wl.prefix, n)
	sr := &snapshotReader{cl: r.cl, user: s.user, ws: s.id, pageSize: 1000}
	start := time.Now()
	res, err := sr.run(ctx, chk)
	elapsed := time.Since(start)
	srv1, serr1 := cpuTime(r.pid)
	own1, oerr1 := cpuTime(os.Getpid())
	peak, rss0 := rss()
	if err != nil {
		return fmt.Errorf("snapshot page %d: %w", res.pages+1, err)
	}
	problem := chk.finish()
	if problem == "" && chk.hw != uint64(n) {
		problem = fmt.Sprintf("watermark %d, want %d (the workspace's %d pushes)", chk.hw, n, n)
	}
	r.rep.Check("snapshot returns every row of the snapshot workspace once, in order", problem == "",
		"%d items in %d pages (watermark %d), %d rows pushed%s", chk.items, res.pages, chk.hw, n, orBad(problem))
	r.rep.Add(Figure{Section: section, Name: fmt.Sprintf("snapshot bootstrap of %s rows", fmtCount(chk.items)), Unit: "s", Value: elapsed.Seconds(),
		Note: fmt.Sprintf("pages of 1,000, %.0f MiB of JSON", float64(res.bytes)/(1<<20))})
	cpu := ""
	if serr0 == nil && serr1 == nil && oerr0 == nil && oerr1 == nil {
		srv, own := (srv1 - srv0).Seconds(), (own1 - own0).Seconds()
		cpu = fmt.Sprintf("; CPU: syncd %.2f s (%.0f rows per CPU-second), client %.2f s", srv, float64(chk.items)/max(srv, 0.01), own)
	}
	rate := Figure{Section: section, Name: fmt.Sprintf("snapshot rows/s (%s rows of ~1 KiB)", fmtCount(chk.items)), Unit: "rows/s", Value: float64(chk.items) / elapsed.Seconds(),
		Note: "client in this process (pipelined: asks for the next page on its token, checks every item), syncd in another; pages of 1,000" + cpu}
	if chk.items >= 1_000_000 {
		rate.Target = &Target{Op: ">=", Value: 200_000, Source: "issue 5, at 1M rows"}
	}
	// Same-run baseline: a raw Pebble scan of as many entries of the size
	// each row took on the wire.
	perRow := int(res.bytes / int64(max(chk.items, 1)))
	if derr := r.needDisk("raw Pebble scan baseline", 3*uint64(chk.items)*uint64(perRow+32)); derr == nil && chk.items > 0 {
		if scan, serr := baseline.PebbleScan(r.scratch, syncdPebbleOptions, chk.items, perRow); serr == nil {
			rate.Baseline = scan.OpsPerSec()
			rate.BaselineName = fmt.Sprintf("raw Pebble scan of %d × %d B", chk.items, perRow)
		}
	}
	r.rep.Add(rate)
	r.rep.Add(Figure{Section: section, Name: fmt.Sprintf("snapshot rows/s, plain client (%s rows)", fmtCount(chk.items)), Unit: "rows/s", Value: plain,
		Note: "one page at a time, each page decoded by encoding/json (same workspace, same run, run first)"})
	// First pages: the measured chain's and those of five more chains (a
	// single sample on a shared machine is mostly scheduling noise); the
	// figure is their median.
	firsts := []time.Duration{res.firstPage}
	for range 5 {
		t0 := time.Now()
		if _, err := r.cl.snapshot(ctx, s.user, s.id, "", 1000); err != nil {
			return fmt.Errorf("first page: %w", err)
		}
		firsts = append(firsts, time.Since(t0))
	}
	slices.Sort(firsts)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	r.rep.Add(Figure{Section: section, Name: fmt.Sprintf("snapshot first page (%s-row workspace)", fmtCount(chk.items)), Unit: "ms", Value: ms(firsts[len(firsts)/2]),
		Target: &Target{Op: "<=", Value: 50, Source: "issue 5"},
		Note:   fmt.Sprintf("median of %d chains' first pages (1,000 rows, read whole); min %.1f ms, max %.1f ms, the measured chain's %.1f ms", len(firsts), ms(firsts[0]), ms(firsts[len(firsts)-1]), ms(res.firstPage))})
	if r.pid > 0 && peak > 0 {
		r.rep.Add(Figure{Section: section, Name: "syncd peak RSS during the snapshot", Unit: "MiB", Value: float64(peak) / 1024,
			Baseline: float64(rss0) / 1024, BaselineName: "syncd RSS before"})
		r.rep.Add(Figure{Section: section, Name: "syncd RSS growth during the snapshot", Unit: "MiB", Value: float64(peak-rss0) / 1024,
			Target: &Target{Op: "<=", Value: 64, Source: "issue 5"}, Note: "the pipelined chain, after the plain client's chain warmed Pebble's block cache"})
		r.rep.Add(Figure{Section: section, Name: "syncd RSS growth during the first (plain) chain", Unit: "MiB", Value: float64(coldPeak-coldBefore) / 1024,
			Note: "includes Pebble's block cache filling after the fill's memtables left it (64 MiB plus the memtables' room, log.Config.CacheSize)"})
	}
	return nil
}

// sampleRSS samples syncd's VmRSS every 5 ms until the returned function
// is called; that returns the peak and the RSS at the start (KiB).
func (r *run) sampleRSS() func() (peak, before int64) {
	var top atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	rss0, _ := procStatus(r.pid, "VmRSS")
	go func() {
		defer close(sampled)
		for {
			if v, err := procStatus(r.pid, "VmRSS"); err == nil && v > top.Load() {
				top.Store(v)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return func() (int64, int64) {
		close(stop)
		<-sampled
		return top.Load(), rss0
	}
}

// settle waits (at most max) until syncd has used under 5% of a core for
// a whole second.
func (r *run) settle(ctx context.Context, max time.Duration) {
	deadline := time.Now().Add(max)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		c0, err := cpuTime(r.pid)
		if err != nil {
			return
		}
		time.Sleep(time.Second)
		c1, err := cpuTime(r.pid)
		if err != nil || c1-c0 < 50*time.Millisecond {
			return
		}
	}
}

// plainSnapshot pages through a new chain of s one page at a time,
// decoding each with encoding/json (what the harness did before), and
// returns its rows/s.
func (r *run) plainSnapshot(ctx context.Context, s *wsState) (float64, error) {
	start := time.Now()
	items, token := 0, ""
	for {
		page, err := r.cl.snapshot(ctx, s.user, s.id, token, 1000)
		if err != nil {
			return 0, err
		}
		items += len(page.Items)
		if page.NextPageToken == nil {
			break
		}
		token = *page.NextPageToken
	}
	if items != r.sz.SnapshotRows {
		return 0, fmt.Errorf("plain client read %d items, want %d", items, r.sz.SnapshotRows)
	}
	return float64(items) / time.Since(start).Seconds(), nil
}

// snapshotChecker checks a chain's items as they arrive: one snapshot id
// and watermark, items strictly ordered by (tableName, pk, kind) across
// pages (so no key twice), every item a live row of the harness's
// snapshot workspace, and at the end every pushed row seen.
type snapshotChecker struct {
	ws, prefix string
	n          int
	seen       []uint64 // bitset of row indexes
	items      int
	hw         uint64
	id         []byte
	prevTable  []byte
	prevPK     []byte
	prevKind   []byte
	problem    string
}

func newSnapshotChecker(ws, prefix string, n int) *snapshotChecker {
	return &snapshotChecker{ws: ws, prefix: prefix, n: n, seen: make([]uint64, (n+63)/64)}
}

func (c *snapshotChecker) fail(format string, args ...any) {
	if c.problem == "" {
		c.problem = fmt.Sprintf(format, args...)
	}
}

// page checks one page's header fields.
func (c *snapshotChecker) page(p *pageScan, number int) {
	if string(p.ws) != c.ws {
		c.fail("page %d: workspaceId %q, want %q", number, p.ws, c.ws)
	}
	if number == 1 {
		c.id, c.hw = append([]byte(nil), p.id...), p.hw
		return
	}
	if !bytes.Equal(p.id, c.id) || p.hw != c.hw {
		c.fail("page %d: snapshot %s @%d, the chain's is %s @%d", number, p.id, p.hw, c.id, c.hw)
	}
}

// item checks one item (its strings are valid only during the call).
func (c *snapshotChecker) item(table, pk, kind []byte, hasPayload bool) {
	c.items++
	if c.prevTable != nil {
		order := bytes.Compare(table, c.prevTable)
		if order == 0 {
			order = bytes.Compare(pk, c.prevPK)
		}
		if order == 0 {
			order = bytes.Compare(kind, c.prevKind)
		}
		if order <= 0 {
			c.fail("item %d (%s, %s, %s) does not follow (%s, %s, %s)", c.items, table, pk, kind, c.prevTable, c.prevPK, c.prevKind)
		}
	}
	c.prevTable = append(c.prevTable[:0], table...)
	c.prevPK = append(c.prevPK[:0], pk...)
	c.prevKind = append(c.prevKind[:0], kind...)
	if string(kind) != "row" || !hasPayload || string(table) != "messages" {
		c.fail("item %d: %s %s/%s (payload %v), want a live messages row", c.items, kind, table, pk, hasPayload)
		return
	}
	// pk = s-<prefix>-<8 digits>
	want := len("s-") + len(c.prefix) + 1 + 8
	if len(pk) != want || string(pk[:2]) != "s-" || string(pk[2:2+len(c.prefix)]) != c.prefix || pk[2+len(c.prefix)] != '-' {
		c.fail("item %d: pk %q is not one of the harness's rows", c.items, pk)
		return
	}
	i, err := strconv.Atoi(string(pk[want-8:]))
	if err != nil || i < 0 || i >= c.n {
		c.fail("item %d: pk %q is not one of the harness's rows", c.items, pk)
		return
	}
	c.seen[i/64] |= 1 << (i % 64)
}

// finish returns the first problem, or "" when the chain held every row.
func (c *snapshotChecker) finish() string {
	if c.problem == "" && c.items != c.n {
		c.fail("%d items, want %d", c.items, c.n)
	}
	if c.problem == "" {
		for i := range c.n {
			if c.seen[i/64]&(1<<(i%64)) == 0 {
				c.fail("row %s missing", snapshotPK(c.prefix, i))
				break
			}
		}
	}
	return c.problem
}

// snapshotReader pages through one snapshot chain as a fast client does:
// a snapshot page starts with its nextPageToken, so as soon as the first
// bytes of page k arrive it sends the request for page k+1 (syncd encodes
// it meanwhile) and then reads and checks page k.
type snapshotReader struct {
	cl       *client
	user, ws string
	pageSize int
}

type snapshotRun struct {
	pages     int
	bytes     int64
	firstPage time.Duration
}

// pageResult is an answer to one page request: the response with its
// status checked, or the error.
type pageResult struct {
	resp *http.Response
	err  error
}

func (sr *snapshotReader) request(ctx context.Context, token []byte) <-chan pageResult {
	ch := make(chan pageResult, 1)
	go func() {
		body := fmt.Appendf(nil, `{"scope":{"workspaceId":%q},"pageSize":%d`, sr.ws, sr.pageSize)
		if token != nil {
			body = append(body, `,"pageToken":`...)
			body = strconv.AppendQuote(body, string(token))
		}
		body = append(body, '}')
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, sr.cl.base+"/v1/sync/snapshot", bytes.NewReader(body))
		if err != nil {
			ch <- pageResult{err: err}
			return
		}
		if sr.cl.token != "" {
			req.Header.Set("Authorization", "Bearer "+sr.cl.token)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Syncd-User", sr.user)
		resp, err := sr.cl.http.Do(req)
		if err == nil && resp.StatusCode != http.StatusOK {
			data, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			_ = resp.Body.Close()
			resp, err = nil, &statusError{Status: resp.StatusCode, Body: string(data)}
		}
		ch <- pageResult{resp: resp, err: err}
	}()
	return ch
}

// tokenPrefix is how syncd starts a snapshot page.
var tokenPrefix = []byte(`{"nextPageToken":`)

func (sr *snapshotReader) run(ctx context.Context, chk *snapshotChecker) (snapshotRun, error) {
	var res snapshotRun
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	pending := sr.request(ctx, nil)
	br := bufio.NewReaderSize(nil, 64<<10)
	var buf []byte
	var p pageScan
	for {
		pr := <-pending
		pending = nil
		if pr.err != nil {
			return res, pr.err
		}
		br.Reset(pr.resp.Body)
		buf = buf[:0]
		// The token first: send the next request before reading the rest.
		head, _ := br.Peek(len(tokenPrefix) + 4200)
		if bytes.HasPrefix(head, tokenPrefix) {
			if tok, ok := leadingToken(head[len(tokenPrefix):]); ok && tok != nil {
				pending = sr.request(ctx, append([]byte(nil), tok...))
			}
		}
		var err error
		buf, err = readAllInto(buf, br, pr.resp.ContentLength)
		_ = pr.resp.Body.Close()
		if err != nil {
			return res, err
		}
		res.pages++
		res.bytes += int64(len(buf))
		if res.pages == 1 {
			res.firstPage = time.Since(start)
		}
		if err := p.scan(buf, sr.pageSize, chk.item); err != nil {
			return res, fmt.Errorf("page %d: %w", res.pages, err)
		}
		chk.page(&p, res.pages)
		if p.next == nil {
			if pending != nil {
				return res, errors.New("the page's leading token and its parsed token differ")
			}
			return res, nil
		}
		if pending == nil {
			// No leading token (another server's field order): no pipelining.
			pending = sr.request(ctx, append([]byte(nil), p.next...))
		}
	}
}

// readAllInto reads r to the end into buf (grown to n first when n > 0).
func readAllInto(buf []byte, r io.Reader, n int64) ([]byte, error) {
	if n > 0 && int64(cap(buf)) < n+1 {
		buf = make([]byte, 0, n+512)
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		m, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// leadingToken parses the JSON value at the start of b: null (nil, true)
// or a string without escapes (base64url tokens have none).
func leadingToken(b []byte) ([]byte, bool) {
	if bytes.HasPrefix(b, []byte("null")) {
		return nil, true
	}
	if len(b) == 0 || b[0] != '"' {
		return nil, false
	}
	end := bytes.IndexByte(b[1:], '"')
	if end < 0 || bytes.IndexByte(b[1:1+end], '\\') >= 0 {
		return nil, false
	}
	return b[1 : 1+end], true
}

// pageScan is one parsed page: its header fields (aliasing the page's
// bytes) and, through the checker, its items. The scanner walks the JSON
// once, skipping payloads with bytes.IndexByte over their strings; it
// checks the structure (objects, arrays, strings, commas and colons) but
// not number syntax or UTF-8, which is enough to find every item and
// field exactly.
type pageScan struct {
	ws, id   []byte
	hw       uint64
	next     []byte // nil: the chain is finished
	haveNext bool
	scratch  [4][]byte // decoded strings with escapes (slot 3: keys)
}

var errSyntax = errors.New("malformed snapshot page")

func (p *pageScan) scan(b []byte, pageSize int, onItem func(table, pk, kind []byte, hasPayload bool)) error {
	*p = pageScan{scratch: p.scratch}
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return errSyntax
	}
	i++
	haveItems, haveHW := false, false
	for first := true; ; first = false {
		i = skipSpace(b, i)
		if i < len(b) && b[i] == '}' {
			i++
			break
		}
		if !first {
			if i >= len(b) || b[i] != ',' {
				return errSyntax
			}
			i = skipSpace(b, i+1)
		}
		key, j, ok := p.str(b, i, 3)
		if !ok {
			return errSyntax
		}
		i = skipSpace(b, j)
		if i >= len(b) || b[i] != ':' {
			return errSyntax
		}
		i = skipSpace(b, i+1)
		switch string(key) {
		case "workspaceId":
			v, j, ok := p.str(b, i, 1)
			if !ok {
				return errSyntax
			}
			p.ws, i = append([]byte(nil), v...), j
		case "snapshotId":
			v, j, ok := p.str(b, i, 1)
			if !ok {
				return errSyntax
			}
			p.id, i = append([]byte(nil), v...), j
		case "highWatermark":
			j := i
			for j < len(b) && b[j] >= '0' && b[j] <= '9' {
				j++
			}
			hw, err := strconv.ParseUint(string(b[i:j]), 10, 64)
			if err != nil {
				return errSyntax
			}
			p.hw, i, haveHW = hw, j, true
		case "nextPageToken":
			if bytes.HasPrefix(b[i:], []byte("null")) {
				i += 4
			} else {
				v, j, ok := p.str(b, i, 1)
				if !ok || len(v) == 0 {
					return errSyntax
				}
				p.next, i = append([]byte(nil), v...), j
			}
			p.haveNext = true
		case "items":
			if haveItems {
				return fmt.Errorf("%w: two items arrays", errSyntax)
			}
			n, j, err := p.items(b, i, onItem)
			if err != nil {
				return err
			}
			if n > pageSize {
				return fmt.Errorf("%d items in a page of %d", n, pageSize)
			}
			i, haveItems = j, true
		default:
			j, ok := skipJSON(b, i)
			if !ok {
				return errSyntax
			}
			i = j
		}
	}
	if skipSpace(b, i) != len(b) || !haveItems || !haveHW || !p.haveNext || p.id == nil || p.ws == nil {
		return fmt.Errorf("%w: a field is missing or trailing data", errSyntax)
	}
	return nil
}

// items scans the items array at b[i] and reports each item to onItem
// (its strings are valid only during the call).
func (p *pageScan) items(b []byte, i int, onItem func(table, pk, kind []byte, hasPayload bool)) (int, int, error) {
	if i >= len(b) || b[i] != '[' {
		return 0, 0, errSyntax
	}
	i = skipSpace(b, i+1)
	n := 0
	if i < len(b) && b[i] == ']' {
		return 0, i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '{' {
			return 0, 0, errSyntax
		}
		i++
		var table, pk, kind []byte
		hasPayload := false
		for first := true; ; first = false {
			i = skipSpace(b, i)
			if i < len(b) && b[i] == '}' {
				i++
				break
			}
			if !first {
				if i >= len(b) || b[i] != ',' {
					return 0, 0, errSyntax
				}
				i = skipSpace(b, i+1)
			}
			key, j, ok := p.str(b, i, 3)
			if !ok {
				return 0, 0, errSyntax
			}
			i = skipSpace(b, j)
			if i >= len(b) || b[i] != ':' {
				return 0, 0, errSyntax
			}
			i = skipSpace(b, i+1)
			var v []byte
			switch string(key) {
			case "tableName":
				v, j, ok = p.str(b, i, 0)
				table = v
			case "pk":
				v, j, ok = p.str(b, i, 1)
				pk = v
			case "kind":
				v, j, ok = p.str(b, i, 2)
				kind = v
			case "payload":
				hasPayload = i < len(b) && b[i] == '{'
				j, ok = skipJSON(b, i)
			default:
				j, ok = skipJSON(b, i)
			}
			if !ok {
				return 0, 0, errSyntax
			}
			i = j
		}
		if table == nil || pk == nil || kind == nil {
			return 0, 0, fmt.Errorf("%w: item %d lacks tableName, pk or kind", errSyntax, n+1)
		}
		n++
		onItem(table, pk, kind, hasPayload)
		i = skipSpace(b, i)
		if i < len(b) && b[i] == ']' {
			return n, i + 1, nil
		}
		if i >= len(b) || b[i] != ',' {
			return 0, 0, errSyntax
		}
		i = skipSpace(b, i+1)
	}
}

// str returns the string at b[i] (its bytes when it has no escapes, else
// decoded into scratch slot k) and the index after it.
func (p *pageScan) str(b []byte, i, k int) ([]byte, int, bool) {
	end, esc, ok := skipStr(b, i)
	if !ok {
		return nil, 0, false
	}
	if !esc && utf8.Valid(b[i+1:end-1]) {
		return b[i+1 : end-1], end, true
	}
	var s string
	if json.Unmarshal(b[i:end], &s) != nil {
		return nil, 0, false
	}
	p.scratch[k] = append(p.scratch[k][:0], s...)
	return p.scratch[k], end, true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t' || b[i] == '\r') {
		i++
	}
	return i
}

// skipStr returns the index after the string at b[i] and whether it holds
// escapes, jumping from quote to quote with bytes.IndexByte.
func skipStr(b []byte, i int) (end int, esc bool, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return 0, false, false
	}
	j := i + 1
	for {
		q := bytes.IndexByte(b[j:], '"')
		if q < 0 {
			return 0, false, false
		}
		q += j
		// An odd run of backslashes before the quote escapes it.
		bs := 0
		for k := q - 1; k >= j && b[k] == '\\'; k-- {
			bs++
		}
		if !esc && bytes.IndexByte(b[j:q], '\\') >= 0 {
			esc = true
		}
		if bs%2 == 0 {
			return q + 1, esc, true
		}
		j = q + 1
	}
}

// skipJSON returns the index after the JSON value at b[i].
func skipJSON(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch c := b[i]; {
	case c == '"':
		end, _, ok := skipStr(b, i)
		return end, ok
	case c == '{' || c == '[':
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == closer {
			return i + 1, true
		}
		for {
			if c == '{' {
				end, _, ok := skipStr(b, i)
				if !ok {
					return 0, false
				}
				i = skipSpace(b, end)
				if i >= len(b) || b[i] != ':' {
					return 0, false
				}
				i = skipSpace(b, i+1)
			}
			end, ok := skipJSON(b, i)
			if !ok {
				return 0, false
			}
			i = skipSpace(b, end)
			if i < len(b) && b[i] == closer {
				return i + 1, true
			}
			if i >= len(b) || b[i] != ',' {
				return 0, false
			}
			i = skipSpace(b, i+1)
		}
	case c == 't':
		return i + 4, bytes.HasPrefix(b[i:], []byte("true"))
	case c == 'f':
		return i + 5, bytes.HasPrefix(b[i:], []byte("false"))
	case c == 'n':
		return i + 4, bytes.HasPrefix(b[i:], []byte("null"))
	case c == '-' || (c >= '0' && c <= '9'):
		j := i + 1
		for j < len(b) && (b[j] >= '0' && b[j] <= '9' || b[j] == '.' || b[j] == 'e' || b[j] == 'E' || b[j] == '+' || b[j] == '-') {
			j++
		}
		return j, true
	}
	return 0, false
}
