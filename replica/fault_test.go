package replica_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/or3/syncd/engine"
)

// netCtl is the test's hand on the routes of a three-node NATS cluster:
// every route connection passes through a proxy in front of its accepting
// node, which reads the soliciting node's CONNECT line to learn who is
// talking, so a node can be cut off from all the others (both directions)
// and healed.
type netCtl struct {
	mu      sync.Mutex
	ids     map[string]int // server ID → node
	blocked map[int]bool
	links   map[*link]bool
}

type link struct {
	from, to int
	a, b     net.Conn
}

func (l *link) close() { l.a.Close(); l.b.Close() }

func (c *netCtl) register(l *link) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.blocked[l.from] || c.blocked[l.to] {
		return false
	}
	c.links[l] = true
	return true
}

func (c *netCtl) unregister(l *link) {
	c.mu.Lock()
	delete(c.links, l)
	c.mu.Unlock()
}

// cut closes every route connection of node k and refuses new ones.
func (c *netCtl) cut(k int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.blocked[k] = true
	for l := range c.links {
		if l.from == k || l.to == k {
			l.close()
			delete(c.links, l)
		}
	}
}

func (c *netCtl) heal(k int) {
	c.mu.Lock()
	c.blocked[k] = false
	c.mu.Unlock()
}

func (c *netCtl) nodeOf(connectLine string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, k := range c.ids {
		if strings.Contains(connectLine, `"name":"`+id+`"`) {
			return k
		}
	}
	return -1
}

// proxy forwards route connections to node to.
func (c *netCtl) proxy(t testing.TB, to int, target string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			a, err := ln.Accept()
			if err != nil {
				return
			}
			go c.serve(a, to, target)
		}
	}()
	return ln.Addr().String()
}

func (c *netCtl) serve(a net.Conn, to int, target string) {
	b, err := net.Dial("tcp", target)
	if err != nil {
		a.Close()
		return
	}
	go func() { _, _ = io.Copy(a, b); a.Close(); b.Close() }()
	br := bufio.NewReader(a)
	_ = a.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := br.ReadString('\n') // the soliciting node's CONNECT
	_ = a.SetReadDeadline(time.Time{})
	l := &link{from: c.nodeOf(line), to: to, a: a, b: b}
	if err != nil || !c.register(l) {
		l.close()
		return
	}
	defer c.unregister(l)
	if _, err := io.WriteString(b, line); err == nil {
		_, _ = io.Copy(b, br)
	}
	l.close()
}

// natsCluster is three NATS nodes with JetStream, run by the test (the
// regions join them with NATSURL), whose routes pass through netCtl.
type natsCluster struct {
	t     testing.TB
	ctl   *netCtl
	opts  []*server.Options
	mu    sync.Mutex
	nodes []*server.Server
}

func portOf(t testing.TB, addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	fmt.Sscan(p, &n)
	return n
}

func newNATSCluster(t testing.TB, direct bool) *natsCluster {
	nc := &natsCluster{t: t, ctl: &netCtl{ids: map[string]int{}, blocked: map[int]bool{}, links: map[*link]bool{}},
		opts: make([]*server.Options, 3), nodes: make([]*server.Server, 3)}
	routeAddrs := []string{freePort(t), freePort(t), freePort(t)}
	proxies := make([]string, 3)
	for k := range proxies {
		proxies[k] = nc.ctl.proxy(t, k, routeAddrs[k])
	}
	for k := range nc.opts {
		o := &server.Options{
			ServerName: fmt.Sprint("n", k), Host: "127.0.0.1", Port: portOf(t, freePort(t)),
			JetStream: true, StoreDir: filepath.Join(t.TempDir(), "js"), NoSigs: true, NoLog: true,
			Cluster: server.ClusterOpts{Name: "faults", Host: "127.0.0.1", Port: portOf(t, routeAddrs[k]),
				// Peers know this node by its proxy only (no implicit route
				// around it); CONNECT lines stay readable.
				Advertise: proxies[k], Compression: server.CompressionOpts{Mode: server.CompressionOff}},
		}
		for j, p := range proxies {
			if direct {
				p = routeAddrs[j]
			}
			if j != k {
				o.Routes = append(o.Routes, &url.URL{Scheme: "nats-route", Host: p})
			}
		}
		if direct {
			o.Cluster.Advertise = ""
		}
		nc.opts[k] = o
	}
	for k := range nc.nodes {
		nc.start(k)
	}
	t.Cleanup(func() {
		for k := range nc.nodes {
			nc.stop(k)
		}
	})
	return nc
}

// start runs node k (again: same ports, same store).
func (nc *natsCluster) start(k int) {
	s, err := server.NewServer(nc.opts[k])
	if err != nil {
		nc.t.Fatal(err)
	}
	nc.ctl.mu.Lock()
	nc.ctl.ids[s.ID()] = k
	nc.ctl.mu.Unlock()
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		nc.t.Fatalf("node n%d did not start", k)
	}
	nc.mu.Lock()
	nc.nodes[k] = s
	nc.mu.Unlock()
}

// stop shuts node k down (a lost JetStream node).
func (nc *natsCluster) stop(k int) {
	nc.mu.Lock()
	s := nc.nodes[k]
	nc.nodes[k] = nil
	nc.mu.Unlock()
	if s != nil {
		s.Shutdown()
		s.WaitForShutdown()
	}
}

func (nc *natsCluster) url(k int) string {
	return fmt.Sprintf("nats://127.0.0.1:%d", nc.opts[k].Port)
}

// newFaultRegions returns three regions, region k connected to node k of
// nc, with an R3 stream.
func newFaultRegions(t testing.TB, nc *natsCluster) []*region {
	regs := make([]*region, 3)
	var wg sync.WaitGroup
	for k := range regs {
		regs[k] = &region{t: t, name: fmt.Sprint("r", k), dir: t.TempDir(), natsURL: nc.url(k), replicas: 3, acked: map[string]bool{}}
		wg.Add(1)
		go func() { defer wg.Done(); regs[k].open() }()
	}
	wg.Wait()
	for _, r := range regs {
		t.Cleanup(r.close)
	}
	if t.Failed() {
		t.FailNow()
	}
	return regs
}

// load writes to every region until stop closes: own rows (each written
// once) and conflicting edits of a few shared rows.
func load(t testing.TB, regs []*region, ws string, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	for i, r := range regs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dev := fmt.Sprint("d", i)
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				ops := []engine.PendingOp{
					putOp(fmt.Sprintf("%s-own-%d", r.name, n), 1, dev, opID(), r.name),
					putOp(fmt.Sprintf("shared-%d", n%5), int64(n), dev, opID(), fmt.Sprint(r.name, n)),
				}
				if n%7 == 0 {
					ops = append(ops, delOp(fmt.Sprintf("shared-%d", (n+1)%5), int64(n), dev, opID()))
				}
				if err := r.push(ws, ops...); err != nil {
					t.Error(err)
					return
				}
				time.Sleep(3 * time.Millisecond)
			}
		}()
	}
	return &wg
}

// waitSubsetConverged waits until the regions of sub have applied each
// other's whole origin sequences, the same prefix of every other region's,
// and have equal digests of ws.
func waitSubsetConverged(t testing.TB, sub, all []*region, ws string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		why := subsetConverged(sub, all, ws)
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			for _, r := range sub {
				t.Logf("%s: %+v", r.name, r.rep.Status())
			}
			t.Fatalf("not converged after %v: %s", timeout, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func subsetConverged(sub, all []*region, ws string) string {
	applied := make([]map[string]uint64, len(sub))
	for i, r := range sub {
		a, err := r.eng.Applied()
		if err != nil {
			return err.Error()
		}
		applied[i] = a
	}
	for i, r := range sub {
		for _, o := range all {
			if o == r {
				continue
			}
			inSub := false
			for _, s := range sub {
				inSub = inSub || s == o
			}
			if inSub {
				if n := o.originLen(); applied[i][o.name] != n {
					return fmt.Sprintf("%s applied %s to %d of %d", r.name, o.name, applied[i][o.name], n)
				}
			} else if applied[i][o.name] != applied[0][o.name] {
				return fmt.Sprintf("%s and %s applied %s to %d and %d", r.name, sub[0].name, o.name, applied[i][o.name], applied[0][o.name])
			}
		}
	}
	d0, _ := sub[0].eng.Digest(context.Background(), ws)
	for _, r := range sub[1:] {
		if d, _ := r.eng.Digest(context.Background(), ws); d != d0 {
			return fmt.Sprintf("%s digest differs from %s", r.name, sub[0].name)
		}
	}
	return ""
}

// streamLeader waits until a region reports the stream's leader node.
func streamLeader(t testing.TB, regs []*region) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, r := range regs {
			var k int
			if _, err := fmt.Sscanf(r.rep.Status().StreamLeader, "n%d", &k); err == nil && k >= 0 && k < len(regs) {
				return k
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no stream leader reported")
	return -1
}

func without(regs []*region, k int) []*region {
	var out []*region
	for i, r := range regs {
		if i != k {
			out = append(out, r)
		}
	}
	return out
}

// faultScenario: three regions under load; fault(k) hits the node leading
// the stream, the two other regions keep converging between themselves
// while region k keeps accepting writes; heal(k) restores it and all three
// converge with every acknowledged op logged everywhere.
func faultScenario(t *testing.T, isolated bool, fault, heal func(nc *natsCluster, k int)) {
	direct := !isolated
	nc := newNATSCluster(t, direct)
	regs := newFaultRegions(t, nc)
	ws := "ws-1"
	for i, r := range regs {
		if err := r.push(ws, putOp(fmt.Sprint("warm-", i), 1, "dw", opID(), "warm")); err != nil {
			t.Fatal(err)
		}
	}
	waitConverged(t, regs, []string{ws}, 60*time.Second)
	k := streamLeader(t, regs)
	stop := make(chan struct{})
	wg := load(t, regs, ws, stop)
	time.Sleep(time.Second)
	t.Logf("fault on n%d (the stream leader)", k)
	fault(nc, k)
	before := regs[k].originLen()
	time.Sleep(2 * time.Second) // everyone keeps writing
	close(stop)
	wg.Wait()
	if regs[k].originLen() <= before {
		t.Fatalf("%s stopped accepting writes without its JetStream node", regs[k].name)
	}
	t0 := time.Now()
	if isolated {
		waitSubsetConverged(t, without(regs, k), regs, ws, 60*time.Second)
		t.Logf("the two others converged %v after the writes stopped; leader now %q", time.Since(t0), regs[(k+1)%3].rep.Status().StreamLeader)
		if st := regs[k].rep.Status(); st.Published >= regs[k].originLen() {
			t.Errorf("%s published everything while cut off: %+v", regs[k].name, st)
		}
	} else {
		// Its client fails over to another node of the cluster.
		waitConverged(t, regs, []string{ws}, 60*time.Second)
		t.Logf("all three converged %v after the writes stopped, without n%d; leader now %q", time.Since(t0), k, regs[(k+1)%3].rep.Status().StreamLeader)
	}
	// More writes on the cut-off side, then heal.
	for n := 0; n < 20; n++ {
		if err := regs[k].push(ws, putOp(fmt.Sprint("while-cut-", n), 1, "dk", opID(), "cut")); err != nil {
			t.Fatal(err)
		}
	}
	heal(nc, k)
	t1 := time.Now()
	waitConverged(t, regs, []string{ws}, 90*time.Second)
	t.Logf("all three converged %v after healing", time.Since(t1))
	checkAcked(t, regs)
	for _, r := range regs {
		if st := r.rep.Status(); st.Rejected != 0 {
			t.Errorf("%s rejected messages: %+v", r.name, st)
		}
	}
}

// TestReplica_RoutesCutAndHealed: the routes of the node leading the
// stream are cut (both directions; the node and its region stay up, in a
// minority without quorum), the other two elect a new leader and keep
// replicating, the cut-off region keeps accepting writes; after healing,
// all three converge and no acknowledged op is lost.
func TestReplica_RoutesCutAndHealed(t *testing.T) {
	faultScenario(t, true, func(nc *natsCluster, k int) { nc.ctl.cut(k) }, func(nc *natsCluster, k int) { nc.ctl.heal(k) })
}

// TestReplica_NATSNodeLost: the JetStream node leading a stream (and the
// one its region is connected to) shuts down under load; the streams and
// consumers it led elect new leaders, its region's client fails over to
// another node, and all three regions converge without it; when the node
// comes back on its store it catches up, and all three converge again
// with no acknowledged op lost. (Before the streams were per origin with
// an expected sequence, this lost the pipelined publishes in flight and
// stored later ones after the hole: a permanent gap.)
func TestReplica_NATSNodeLost(t *testing.T) {
	faultScenario(t, false, func(nc *natsCluster, k int) { nc.stop(k) }, func(nc *natsCluster, k int) { nc.start(k) })
}
