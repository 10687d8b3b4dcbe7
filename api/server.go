package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/or3/syncd/engine"
)

// Sync is what the HTTP layer needs of the sync engine (*engine.Engine).
type Sync interface {
	Push(ctx context.Context, user string, batch engine.PushBatch) (engine.PushResult, error)
	Pull(ctx context.Context, user string, req engine.PullRequest) (engine.PullResponse, error)
	UpdateCursor(ctx context.Context, user string, req engine.CursorRequest) error
	ServerVersion(ctx context.Context, user, ws string) (uint64, error)
	Authorize(ctx context.Context, ws, user string, write bool) error
}

// RPCStore answers POST /v1/rpc/{store}.{method}. args is the request body,
// a JSON array of the method's arguments; the result is marshalled as the
// envelope's result. An unknown method must fail with a 404
// *syncerr.Error.
type RPCStore interface {
	Call(ctx context.Context, method string, args json.RawMessage) (any, error)
}

// Watch serves the watch streams of an authorized request. The HTTP layer
// has already checked the token, named the user, parsed the workspace and
// the cursor (Last-Event-ID first) and checked the read role; the Watch
// streams until the client leaves or r's context ends.
type Watch interface {
	ServeSSE(w http.ResponseWriter, r *http.Request, user, ws string, cursor uint64)
	ServeWS(w http.ResponseWriter, r *http.Request, user, ws string, cursor uint64)
	// Watchers is the number of open streams (a metric).
	Watchers() int
}

// Config configures a Server.
type Config struct {
	// Token is the service token every /v1/ request presents as
	// "Authorization: Bearer <token>". Required.
	Token string
	// Sync is the sync engine. Required.
	Sync Sync
	// Limiter, when set, limits the sync endpoints per acting user and
	// failed authentication per client IP (429 with Retry-After and
	// X-RateLimit-*). nil: no limits.
	Limiter Limiter
	// Stores maps an RPC store name ("auth", …) to its implementation.
	Stores map[string]RPCStore
	// Watch serves /v1/sync/watch and /v1/sync/ws; nil answers 503.
	Watch Watch
	// Jobs serves GET /v1/jobs/{id}/stream; nil answers 503.
	Jobs JobStreams
	// History serves snapshots, GC, canonical storage and maintenance;
	// nil answers 503.
	History History
	// Intents serves /v1/sync/upload-intents/*; nil answers 503.
	Intents Intents
	// Storage serves /v1/storage/* and /v1/blobs/*; nil answers 404.
	Storage Storage
	// Admin serves /v1/admin/*; nil answers 503.
	Admin Admin
	// Ready reports whether the log accepts writes (nil = ready); /readyz
	// answers 503 otherwise. Default: always ready.
	Ready func() error
	// Version is the build version /v1/version reports.
	Version string
	// SetClockOffset, when set, enables the test hook
	// POST /v1/test/clock {"offsetSeconds":N} (api.md "Test hooks"). nil
	// leaves the path 404. Only --test-hooks sets it.
	SetClockOffset func(time.Duration)
	// Metrics receives the request metrics; /metrics serves its registry.
	// Default: a new Metrics.
	Metrics *Metrics
	// Logger. Default slog.Default().
	Logger *slog.Logger
	// Forward, when it names peers, sends the calls a workspace's home
	// region decides to that region (forward.go). nil: all answered here.
	Forward *Forward
}

func (c *Config) validate() error {
	if c.Token == "" {
		return errors.New("api: Config.Token is required")
	}
	if c.Sync == nil {
		return errors.New("api: Config.Sync is required")
	}
	if c.Ready == nil {
		c.Ready = func() error { return nil }
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.Metrics == nil {
		c.Metrics = NewMetrics()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Server is the HTTP surface. It is an http.Handler.
type Server struct {
	cfg       Config
	log       *slog.Logger
	tokenHash [32]byte
	mux       *http.ServeMux
	metrics   *Metrics

	// streams holds the cancel functions of open watch streams, so that
	// CloseStreams can end them on shutdown (http.Server.Shutdown waits for
	// connections to go idle, which a stream never does by itself).
	streamsMu sync.Mutex
	streams   map[*int]context.CancelFunc
	closing   bool
	streamsWG sync.WaitGroup
}

// NewServer builds the handler for cfg.
func NewServer(cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:       cfg,
		log:       cfg.Logger.With("component", "api"),
		tokenHash: hashToken(cfg.Token),
		mux:       http.NewServeMux(),
		metrics:   cfg.Metrics,
		streams:   map[*int]context.CancelFunc{},
	}
	if cfg.Watch != nil {
		s.metrics.watchWatchers(cfg.Watch.Watchers)
	}
	s.routes()
	return s, nil
}

// route is one entry of the routing table.
type route struct {
	path    string // ServeMux pattern without a method
	name    string // metrics label
	methods []string
	auth    bool   // requires the service token
	rpc     bool   // failures use the RPC envelope
	limit   string // rate-limit bucket, per acting user ("" = none)
	h       http.HandlerFunc
}

// routes registers the routing table of api.md.
func (s *Server) routes() {
	table := []route{
		{path: "/healthz", name: "healthz", methods: get, h: s.healthz},
		{path: "/readyz", name: "readyz", methods: get, h: s.readyz},
		{path: "/metrics", name: "metrics", methods: get, h: s.metricsHandler},
		{path: "/v1/version", name: "version", methods: get, h: s.version},

		{path: "/v1/sync/push", name: "sync.push", methods: post, auth: true, limit: BucketPush, h: s.push},
		{path: "/v1/sync/pull", name: "sync.pull", methods: post, auth: true, limit: BucketPull, h: s.pull},
		{path: "/v1/sync/update-cursor", name: "sync.update-cursor", methods: post, auth: true, limit: BucketCursor, h: s.updateCursor},
		{path: "/v1/sync/server-version", name: "sync.server-version", methods: get, auth: true, h: s.serverVersion},
		{path: "/v1/sync/watch", name: "sync.watch", methods: getOnly, auth: true, h: s.watchSSE},
		{path: "/v1/sync/ws", name: "sync.ws", methods: getOnly, auth: true, h: s.watchWS},
		{path: "/v1/sync/snapshot", name: "sync.snapshot", methods: post, auth: true, limit: BucketSnapshot, h: s.snapshot},
		{path: "/v1/sync/gc-change-log", name: "sync.gc-change-log", methods: post, auth: true, limit: BucketGC, h: s.gc(false)},
		{path: "/v1/sync/gc-tombstones", name: "sync.gc-tombstones", methods: post, auth: true, limit: BucketGC, h: s.gc(true)},
		{path: "/v1/sync/canonical-storage", name: "sync.canonical-storage", methods: post, auth: true, h: s.canonicalStorage},
		{path: "/v1/sync/upload-intents/reserve", name: "sync.upload-intents.reserve", methods: post, auth: true, h: s.uploadIntent("reserve")},
		{path: "/v1/sync/upload-intents/consume", name: "sync.upload-intents.consume", methods: post, auth: true, h: s.uploadIntent("consume")},
		{path: "/v1/sync/upload-intents/cancel", name: "sync.upload-intents.cancel", methods: post, auth: true, h: s.uploadIntent("cancel")},

		{path: "/v1/storage/{op}", name: "storage", methods: post, auth: true, h: s.storageOp},
		// The grant in the path is the capability: no bearer token.
		{path: "/v1/blobs/{token}", name: "blobs", methods: []string{http.MethodGet, http.MethodHead, http.MethodPut}, h: s.blob},
		{path: "/v1/sync/maintenance", name: "sync.maintenance", methods: get, auth: true, h: s.maintenance},
		{path: "/v1/sync/workspaces", name: "sync.workspaces", methods: get, auth: true, h: s.workspaces},

		{path: "/v1/admin/status", name: "admin.status", methods: get, auth: true, h: s.adminStatus},
		{path: "/v1/admin/digest", name: "admin.digest", methods: get, auth: true, h: s.adminDigest},
		{path: "/v1/admin/actions/{id}", name: "admin.action", methods: post, auth: true, h: s.adminAction},

		{path: "/v1/rpc/{call}", name: "rpc", methods: post, auth: true, rpc: true, h: s.rpc},
		{path: "/v1/jobs/{id}/stream", name: "jobs.stream", methods: getOnly, auth: true, h: s.jobStream},

		// Unknown paths: 401 without a token under /v1/, else 404.
		{path: "/v1/", name: "other", auth: true, h: s.notFound},
		{path: "/", name: "other", h: s.notFound},
	}
	if s.cfg.SetClockOffset != nil {
		table = append(table, route{path: "/v1/test/clock", name: "test.clock", methods: post, auth: true, h: s.testClock})
	}
	for _, rt := range table {
		s.mux.Handle(rt.path, s.wrap(rt))
	}
}

var (
	get     = []string{http.MethodGet, http.MethodHead}
	getOnly = []string{http.MethodGet} // streams: a HEAD would open one
	post    = []string{http.MethodPost}
)

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

type ctxKey int

const rpcKey ctxKey = 1

func isRPC(r *http.Request) bool { v, _ := r.Context().Value(rpcKey).(bool); return v }

// wrap is the middleware of every route, outermost first: metrics,
// panic recovery, the bearer token, the method check, then the handler.
func (s *Server) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		if rt.rpc {
			r = r.WithContext(context.WithValue(r.Context(), rpcKey, true))
		}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", p, "stack", stack())
				if !sw.wroteHeader {
					s.writeError(sw, r, errorf(http.StatusInternalServerError, "internal error"))
				}
			}
			took := time.Since(start)
			s.metrics.observeRequest(rt.name, r.Method, sw.status(), took)
			s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "route", rt.name, "status", sw.status(), "took", took)
		}()
		if strings.HasPrefix(r.URL.Path, "/v1/") {
			// Sync and RPC answers are per user and per moment: never cache.
			sw.Header().Set("Cache-Control", "no-store")
		}
		if rt.auth && s.authBlocked(sw, r) {
			return
		}
		if rt.auth && !s.authorized(r) {
			s.authFailed(r)
			s.writeError(sw, r, errorf(http.StatusUnauthorized, "a valid service token is required (Authorization: Bearer <token>)"))
			return
		}
		if rt.methods != nil && !slices.Contains(rt.methods, r.Method) {
			sw.Header().Set("Allow", strings.Join(rt.methods, ", "))
			s.writeError(sw, r, errorf(http.StatusMethodNotAllowed, "method %s not allowed on %s", r.Method, r.URL.Path))
			return
		}
		fr := s.forward(sw, r, rt.name)
		if fr == nil {
			return // answered by the workspace's home region
		}
		if !s.limitUser(sw, fr, rt.limit) {
			return
		}
		rt.h(sw, fr)
	})
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, errorf(http.StatusNotFound, "no such endpoint: %s %s", r.Method, r.URL.Path))
}

// writeJSON answers v with status. HTML characters are not escaped, so
// payloads go back byte for byte as they were stored.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error":{"status":500,"code":"SERVER_ERROR","message":"could not encode the answer"}}` + "\n")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// acting returns the X-Syncd-User of a sync request, or a 401.
func acting(r *http.Request) (string, error) {
	u := strings.TrimSpace(r.Header.Get("X-Syncd-User"))
	if u == "" {
		return "", errorf(http.StatusUnauthorized, "the X-Syncd-User header naming the acting user is required")
	}
	return u, nil
}
