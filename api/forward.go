package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/or3/syncd/blobs"
	"github.com/or3/syncd/syncerr"
)

// ForwardedHeader marks a request one region forwarded to another (its
// value is the forwarding region). A region never forwards such a request
// again: it decides it itself, so two regions that disagree about a home
// cannot bounce a call between them.
const ForwardedHeader = "X-Syncd-Forwarded-From"

// Forward configures home-region forwarding (model.md §6): membership,
// roles, invites, workspace settings and upload intents are decided by the
// workspace's home region. A call that makes such a decision for a
// workspace homed elsewhere is sent to that region's syncd with the service
// token and the acting user, and its answer is returned verbatim; while the
// home region cannot be reached the call is 503 UNAVAILABLE with
// Retry-After, and nothing changes here.
type Forward struct {
	// Region is this region.
	Region string
	// Peers maps a region to the base URL of its syncd. No peers: nothing
	// is forwarded.
	Peers map[string]string
	// Home returns the home region of a workspace known here ("" when the
	// workspace is unknown: the call is then answered here).
	Home func(ctx context.Context, ws string) (string, error)
	// JobHome returns the region holding a background job when that is a
	// peer ("" when the job is here or nowhere). Jobs do not replicate and
	// name no workspace: a job's home is the region that created it
	// (model.md §6), which alone decides its leases and chunks. An error
	// (a peer could not be asked) answers 503. nil: job calls are answered
	// here.
	JobHome func(ctx context.Context, jobID string) (string, error)
	// Client sends forwarded calls. Default: a client whose requests give
	// up after Timeout.
	Client *http.Client
	// Timeout bounds one forwarded call. Default 10 s.
	Timeout time.Duration
	// RetryAfter is the Retry-After (seconds) of a 503 for an unreachable
	// home. Default 5.
	RetryAfter int

	// calls counts forwarded calls by home region and outcome (the home's
	// status, or "unreachable"): syncd_forwarded_requests_total.
	once  sync.Once
	calls *prometheus.CounterVec
}

// count records one forwarded call in the server's registry.
func (s *Server) countForward(home, outcome string) {
	f := s.cfg.Forward
	f.once.Do(func() {
		f.calls = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncd_forwarded_requests_total",
			Help: "Calls forwarded to the workspace's home region, by home region and outcome (its HTTP status, or unreachable).",
		}, []string{"home", "outcome"})
		if err := s.metrics.reg.Register(f.calls); err != nil {
			s.log.Warn("forwarded-call metric not registered", "err", err)
		}
	})
	f.calls.WithLabelValues(home, outcome).Inc()
}

// maxForwardAnswer bounds the answer of a forwarded call (RPC and intent
// answers are small JSON documents).
const maxForwardAnswer = 16 << 20

// homeRoutes names the routes whose calls may be home-region decisions,
// each with the function that finds the call's workspace ("" = not a
// home decision: answered here). Reads are answered here from the
// replicated state, except workspace settings, which do not replicate.
var homeRoutes = map[string]func(r *http.Request, body []byte) string{
	"rpc":                         homeOfRPC,
	"sync.upload-intents.reserve": homeOfObject,
	"sync.upload-intents.consume": homeOfObject,
	"sync.upload-intents.cancel":  homeOfObject,
}

// homeRPC lists the RPC methods decided by the home region, and where
// their workspace is: "obj" = workspaceId of the first (object) argument,
// "pos" = the first (string) argument.
var homeRPC = map[string]string{
	"auth.updateWorkspace":                "obj",
	"auth.removeWorkspace":                "obj",
	"auth.createInvite":                   "obj",
	"auth.revokeInvite":                   "obj",
	"auth.acceptInviteAndProvisionUser":   "obj",
	"auth.consumeInvite":                  "obj",
	"workspaceAccess.upsertMember":        "obj",
	"workspaceAccess.setMemberRole":       "obj",
	"workspaceAccess.removeMember":        "obj",
	"workspaceAccess.softDeleteWorkspace": "obj",
	"workspaceAccess.restoreWorkspace":    "obj",
	"workspaceSettings.get":               "pos",
	"workspaceSettings.set":               "pos",
}

// jobRPC lists the jobs RPC methods that name a job (its id is their
// first, positional argument). createJob is decided where it arrives (the
// job's home is where it is created); claimNextJob, cleanupExpired and
// getActiveJobCount act on this region's jobs.
var jobRPC = map[string]bool{
	"jobs.getJob": true, "jobs.getJobInternal": true, "jobs.updateJob": true, "jobs.completeJob": true,
	"jobs.failJob": true, "jobs.abortJob": true, "jobs.checkJobAborted": true, "jobs.claimJob": true,
	"jobs.renewJobLease": true, "jobs.updateJobExecution": true,
}

// jobOfRPC returns the job id of a jobs RPC call that names one.
func jobOfRPC(r *http.Request, body []byte) string {
	if !jobRPC[r.PathValue("call")] {
		return ""
	}
	var args []json.RawMessage
	if json.Unmarshal(body, &args) != nil || len(args) == 0 {
		return ""
	}
	var id string
	_ = json.Unmarshal(args[0], &id)
	return id
}

func homeOfRPC(r *http.Request, body []byte) string {
	where := homeRPC[r.PathValue("call")]
	if where == "" {
		return ""
	}
	var args []json.RawMessage
	if json.Unmarshal(body, &args) != nil || len(args) == 0 {
		return ""
	}
	if where == "pos" {
		var ws string
		_ = json.Unmarshal(args[0], &ws)
		return ws
	}
	var o struct {
		WorkspaceID string `json:"workspaceId"`
	}
	_ = json.Unmarshal(args[0], &o)
	return o.WorkspaceID
}

// homeOfObject reads workspaceId (or scope.workspaceId) of an object body.
func homeOfObject(_ *http.Request, body []byte) string {
	o, err := parseObject(body, "")
	if err != nil {
		return ""
	}
	ws, _ := workspaceOf(o)
	return ws
}

// forward runs before a route's handler. It returns the request to serve
// here, or nil when the call was forwarded (or refused) and answered.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, route string) *http.Request {
	f := s.cfg.Forward
	if f == nil || len(f.Peers) == 0 {
		return r
	}
	if r.Header.Get(ForwardedHeader) != "" {
		// A peer sent it: decide here, and fetch no blob from peers for
		// it (the peer asked this region because it is the origin).
		return r.WithContext(blobs.LocalOnly(r.Context()))
	}
	if route == "jobs.stream" {
		return s.forwardJob(w, r, r.PathValue("id"), nil)
	}
	pick := homeRoutes[route]
	if pick == nil {
		return r
	}
	body, err := readJSONBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return nil
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	ws := pick(r, body)
	if ws == "" {
		if id := jobOfRPC(r, body); id != "" {
			return s.forwardJob(w, r, id, body)
		}
		return r
	}
	home, err := f.Home(r.Context(), ws)
	if err != nil {
		s.writeError(w, r, err)
		return nil
	}
	if home == "" || home == f.Region {
		return r
	}
	base, ok := f.Peers[home]
	if !ok {
		s.unavailable(w, r, syncerr.Unavailable(nil, "the home region %s of this workspace is not a configured peer", home))
		return nil
	}
	s.proxy(w, r, home, base, body)
	return nil
}

// forwardJob forwards a call naming job id to the job's home region when
// that is a peer (body nil: the job's content stream, relayed as it comes).
func (s *Server) forwardJob(w http.ResponseWriter, r *http.Request, id string, body []byte) *http.Request {
	f := s.cfg.Forward
	if f.JobHome == nil || id == "" {
		return r
	}
	home, err := f.JobHome(r.Context(), id)
	if err != nil {
		s.unavailable(w, r, syncerr.Unavailable(err, "the home region of this job cannot be asked, retry later"))
		return nil
	}
	base, ok := f.Peers[home]
	if home == "" || home == f.Region || !ok {
		return r
	}
	if body == nil {
		s.relayStream(w, r, home, base)
	} else {
		s.proxy(w, r, home, base, body)
	}
	return nil
}

// peerRequest is r as sent to the peer at base: same method, path, query
// and body, the service token, the acting user, and the forwarded-from
// header.
func (s *Server) peerRequest(ctx context.Context, r *http.Request, base string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, r.Method, strings.TrimRight(base, "/")+r.URL.RequestURI(), body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+s.cfg.Token)
	for _, k := range []string{"Content-Type", "X-Syncd-User", "Last-Event-ID"} {
		if v := r.Header.Get(k); v != "" {
			req.Header.Set(k, v)
		}
	}
	req.Header.Set(ForwardedHeader, s.cfg.Forward.Region)
	return req, nil
}

// relayStream relays a job's content stream (SSE) from its home region,
// flushing each read, until either side ends it.
func (s *Server) relayStream(w http.ResponseWriter, r *http.Request, home, base string) {
	req, err := s.peerRequest(r.Context(), r, base, nil)
	if err != nil {
		s.writeError(w, r, syncerr.Internal(err, "forward to %s", home))
		return
	}
	resp, err := s.client().Do(req)
	if err != nil {
		s.countForward(home, "unreachable")
		s.unavailable(w, r, syncerr.Unavailable(err, "the home region %s of this job is unreachable, retry later", home))
		return
	}
	defer func() { _ = resp.Body.Close() }() // read-only
	s.countForward(home, strconv.Itoa(resp.StatusCode))
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{}) // a stream outlives the server's timeouts
	_ = rc.SetWriteDeadline(time.Time{})
	for _, k := range []string{"Content-Type", "Cache-Control", "X-Accel-Buffering"} {
		if v := resp.Header.Get(k); v != "" {
			w.Header().Set(k, v)
		}
	}
	w.Header().Set("X-Syncd-Home-Region", home)
	w.WriteHeader(resp.StatusCode)
	_ = rc.Flush()
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			_ = rc.Flush()
		}
		if err != nil {
			return
		}
	}
}

func (s *Server) client() *http.Client {
	if c := s.cfg.Forward.Client; c != nil {
		return c
	}
	return http.DefaultClient
}

// proxy sends r (with body) to the home region at base and copies its
// answer; a home that cannot be reached is 503.
func (s *Server) proxy(w http.ResponseWriter, r *http.Request, home, base string, body []byte) {
	f := s.cfg.Forward
	timeout := f.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	req, err := s.peerRequest(ctx, r, base, bytes.NewReader(body))
	if err != nil {
		s.writeError(w, r, syncerr.Internal(err, "forward to %s", home))
		return
	}
	resp, err := s.client().Do(req)
	if err != nil {
		s.countForward(home, "unreachable")
		s.log.Warn("home region unreachable", "home", home, "path", r.URL.Path, "err", err)
		s.unavailable(w, r, syncerr.Unavailable(err, "the home region %s of this workspace is unreachable, retry later", home))
		return
	}
	defer func() { _ = resp.Body.Close() }() // read-only
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxForwardAnswer+1))
	if err == nil && len(answer) > maxForwardAnswer {
		err = errors.New("answer too large")
	}
	if err != nil {
		s.countForward(home, "unreachable")
		s.log.Warn("home region answer lost", "home", home, "path", r.URL.Path, "status", resp.StatusCode, "err", err)
		s.unavailable(w, r, syncerr.Unavailable(err, "the home region %s of this workspace did not answer, retry later", home))
		return
	}
	s.countForward(home, strconv.Itoa(resp.StatusCode))
	h := w.Header()
	for _, k := range []string{"Content-Type", "Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining"} {
		if v := resp.Header.Get(k); v != "" {
			h.Set(k, v)
		}
	}
	h.Set("X-Syncd-Home-Region", home)
	h.Set("Content-Length", strconv.Itoa(len(answer)))
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(answer)
}

// unavailable answers a 503 with Retry-After.
func (s *Server) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	ra := s.cfg.Forward.RetryAfter
	if ra <= 0 {
		ra = 5
	}
	w.Header().Set("Retry-After", strconv.Itoa(ra))
	s.writeError(w, r, err)
}
