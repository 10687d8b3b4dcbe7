package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/or3/syncd/admin"
	"github.com/or3/syncd/api"
	"github.com/or3/syncd/blobs"
	"github.com/or3/syncd/engine"
	"github.com/or3/syncd/identity"
	"github.com/or3/syncd/intents"
	"github.com/or3/syncd/jobs"
	"github.com/or3/syncd/limits"
	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/notifications"
	"github.com/or3/syncd/replica"
	"github.com/or3/syncd/watch"
	"github.com/or3/syncd/webhooks"
)

// Config is a finished configuration: cmd/syncd has read flags, env and
// the config file and resolved the secrets.
type Config struct {
	// DataDir holds the Pebble log (in DataDir/log) and, managed by
	// cmd/syncd, the token and cluster secret. Required.
	DataDir string
	// Listen is the HTTP listen address. Default 127.0.0.1:7420; tests
	// pass 127.0.0.1:0.
	Listen string
	// Token is the service token. Required.
	Token string
	// Secret is the cluster secret user ids are derived from. Required, at
	// least 16 bytes.
	Secret []byte
	// Region names this region. Default "local".
	Region string
	// TestHooks enables POST /v1/test/clock. Never on by default.
	TestHooks bool
	// Version is the build version /v1/version reports.
	Version string
	// ShutdownTimeout bounds the drain of in-flight requests on Shutdown
	// when the caller's context has no deadline. Default 30 s.
	ShutdownTimeout time.Duration
	// ReadHeaderTimeout, ReadTimeout and IdleTimeout are the HTTP server's
	// limits against slow clients (0: 10 s, 60 s, 120 s; ReadTimeout is
	// cleared on watch streams).
	ReadHeaderTimeout, ReadTimeout, IdleTimeout time.Duration
	// Logger. Default slog.Default().
	Logger *slog.Logger
	// TuneLog, if set, adjusts the log's configuration (tests shrink the
	// memtable).
	TuneLog func(*synclog.Config)
	// JobsMaxPerUser and JobsMaxGlobal bound the streaming background jobs
	// of one user and of the region (0: 5 and 20).
	JobsMaxPerUser, JobsMaxGlobal int
	// History configures snapshot sessions, history GC and the maintenance
	// loop (zero values take the engine's defaults: GC every hour, 30-day
	// retention).
	History engine.HistoryConfig
	// StorageQuotaBytes is the default workspace storage quota for upload
	// intents when the host names none; 0 = no quota.
	StorageQuotaBytes int64
	// Blob is the blob backend: "fs" (the default, under DataDir/blobs) or
	// s3://bucket?endpoint=host:port&secure=false (MinIO or any S3) with
	// S3AccessKey / S3SecretKey.
	Blob                     string
	S3AccessKey, S3SecretKey string
	// StorageMaxFileBytes caps one file (0: 100 MiB); StorageMimeAllow is
	// the upload MIME allowlist (type/subtype, type/* or *; nil: OR3's).
	StorageMaxFileBytes int64
	StorageMimeAllow    []string
	// StorageUploadTTL: an uploaded object no commit claimed is swept this
	// long after its upload URL and intent expire (0: 1 h; blobs.Config).
	StorageUploadTTL time.Duration
	// RateLimits override the per-user limits of the sync endpoints
	// ("BUCKET=N/WINDOW", e.g. "sync:push=3/60s"); unnamed buckets keep
	// limits.DefaultRules.
	RateLimits []string
	// WebhookAllowPrivate allows webhook targets on private, loopback and
	// link-local addresses. WebhookKey encrypts signing secrets at rest
	// ("": the key in DataDir/webhook-key, generated on first start).
	WebhookAllowPrivate bool
	WebhookKey          string
	// AdminBridgeSecret is OR3_ADMIN_JWT_SECRET of the deployment admin
	// bridge grant ("": the bridge is refused).
	AdminBridgeSecret string
	// Replication (replica/): by default an embedded single-node
	// nats-server with JetStream under DataDir/jetstream. NATSURL joins an
	// external NATS instead; NATSListen (cluster host:port) and NATSRoutes
	// form a cluster with the other regions' embedded servers.
	// NoReplication turns it off (benchmarks, tests).
	NATSURL       string
	NATSListen    string
	NATSRoutes    []string
	NoReplication bool
	// Peers maps the other regions to their syncd base URLs (--peer
	// REGION=URL). Calls a workspace's home region decides are forwarded
	// there (api/forward.go), and on the fs backend files committed there
	// are fetched from there (blobs/remote.go). Empty: none of either.
	Peers map[string]string
}

// HTTP server limits (the numbers): a slow client cannot hold a
// connection open by dribbling headers or a body.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 60 * time.Second // cleared on watch streams
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 64 << 10
	// streamGrace is how long shutdown lets watch streams end cleanly
	// before cancelling them.
	streamGrace = 3 * time.Second
)

func (c *Config) validate() error {
	if c.DataDir == "" {
		return errors.New("daemon: Config.DataDir is required")
	}
	if c.Token == "" {
		return errors.New("daemon: Config.Token is required")
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:7420"
	}
	if c.Region == "" {
		c.Region = "local"
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	for _, t := range []struct {
		d   *time.Duration
		def time.Duration
	}{{&c.ReadHeaderTimeout, readHeaderTimeout}, {&c.ReadTimeout, readTimeout}, {&c.IdleTimeout, idleTimeout}} {
		if *t.d <= 0 {
			*t.d = t.def
		}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Daemon is a running syncd: the log, the modules on it and the HTTP
// server in front of them.
type Daemon struct {
	cfg Config
	log *slog.Logger

	Clock    *Clock
	Metrics  *api.Metrics
	DB       *synclog.DB
	Identity *identity.Store
	Engine   *engine.Engine
	Intents  *intents.Store
	Blobs    *blobs.Gateway
	Hub      *watch.Hub
	API      *api.Server
	HTTP     *http.Server
	// Folder routes every event type to the module that folds it; replay
	// (log.Rebuild) and verification use it.
	Folder *synclog.FolderMux

	// Jobs and Notifications are the side modules' RPC stores.
	Jobs          *jobs.Store
	Notifications *notifications.Store
	// Limits is the rate limiter (the rateLimit RPC store and the sync
	// endpoints' buckets); Webhooks the webhook store and delivery worker.
	Limits   *limits.Limiter
	Webhooks *webhooks.Store
	buckets  *limits.Buckets
	// Admin is the admin module (admin stores, audit, operations).
	Admin *admin.Service
	// Replica publishes this region's events to JetStream and applies the
	// other regions' (nil when replication is off).
	Replica *replica.Replicator
	repl    atomic.Pointer[replica.Replicator]

	ln      net.Listener
	serveCh chan error
}

// New builds a daemon on cfg.DataDir. It opens the log but does not
// listen; call Start.
func New(cfg Config) (d *Daemon, err error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	d = &Daemon{cfg: cfg, log: cfg.Logger.With("component", "daemon"), serveCh: make(chan error, 1)}

	// 1. The clock every module reads: real time, moved only by the test
	//    hook.
	d.Clock = &Clock{}

	// 2. Metrics first, so the log's committer can report every group
	//    commit from the start.
	d.Metrics = api.NewMetrics()

	// 3. The event log: Pebble under DataDir/log, group commit, durable
	//    read view. Everything else is state on it.
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("daemon: data dir: %w", err)
	}
	logCfg := synclog.Config{
		Dir:    filepath.Join(cfg.DataDir, "log"),
		Logger: cfg.Logger,
		OnCommit: func(s synclog.CommitStats) {
			d.Metrics.ObserveCommit(s.Batches, s.Bytes, s.Duration, s.Err)
			if r := d.repl.Load(); r != nil && s.Err == nil {
				r.Notify() // the view holds the commit: publish it
			}
		},
	}
	if cfg.TuneLog != nil {
		cfg.TuneLog(&logCfg)
	}
	if d.DB, err = synclog.Open(logCfg); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			if d.Replica != nil {
				d.Replica.Close()
			}
			_ = d.DB.Close()
		}
	}()

	// 4. Identity: users, accounts, workspaces, members, invites (the auth
	//    RPC store). It answers the engine's membership checks.
	if d.Identity, err = identity.New(d.DB, identity.Config{
		Secret: cfg.Secret,
		Now:    d.Clock.Now,
		Logger: cfg.Logger,
		Region: cfg.Region,
	}); err != nil {
		return nil, err
	}

	// 5. The sync engine, with roles backed by identity: an unknown user
	//    or a non-member has no role, so every sync call is 403 for them.
	if d.Engine, err = engine.New(engine.Config{
		DB:      d.DB,
		Roles:   identityRoles{d.Identity},
		Now:     d.Clock.Now,
		Logger:  cfg.Logger,
		History: cfg.History,
	}); err != nil {
		return nil, err
	}

	// 5b. Upload intents (quota reservations), and the engine's
	//     active_reservations pages read them.
	if d.Intents, err = intents.New(intents.Config{
		DB:                d.DB,
		Roles:             identityRoles{d.Identity},
		DefaultQuotaBytes: cfg.StorageQuotaBytes,
		Now:               d.Clock.Now,
		Logger:            cfg.Logger,
	}); err != nil {
		return nil, err
	}
	d.Engine.SetReservations(intentReservations{d.Intents})

	// 5c. Background jobs (admission, leases, streams) and notifications
	//     (server-authored rows through the engine).
	if d.Jobs, err = jobs.New(d.DB, jobs.Config{
		Now:        d.Clock.Now,
		Logger:     cfg.Logger,
		MaxPerUser: cfg.JobsMaxPerUser,
		MaxGlobal:  cfg.JobsMaxGlobal,
	}); err != nil {
		return nil, err
	}
	if d.Notifications, err = notifications.New(d.Engine, notifications.Config{Now: d.Clock.Now}); err != nil {
		return nil, err
	}

	// 5d. Blob storage: the object store (files under the data dir, or
	//     MinIO/S3) and the gateway in front of it, which reserves intents
	//     with the intents module and writes file_meta through the engine.
	if d.Blobs, err = newBlobs(cfg, d.DB, d.Engine, d.Intents, d.Clock.Now, d.homeOf); err != nil {
		return nil, err
	}
	d.Metrics.Registry().MustRegister(blobSweepCollector{d.Blobs})

	// 5e. Rate limits (windows loaded from the log, flushed at least once
	//     a second) and webhooks (fired by applied sync ops, delivered off
	//     the push path).
	if d.Limits, d.buckets, err = newLimits(cfg, d); err != nil {
		return nil, err
	}
	if d.Webhooks, err = newWebhooks(cfg, d); err != nil {
		return nil, err
	}

	// 5f. Replication: publish this region's events after they are
	//     durable, apply the other regions' through the engine.
	if d.Replica, err = newReplica(cfg, d); err != nil {
		return nil, err
	}
	d.repl.Store(d.Replica)

	// 6. The fold of every event type, for replay: sync entries to the
	//    engine, system events to the module owning their domain.
	d.Folder = &synclog.FolderMux{Change: engine.FoldChange}
	d.Folder.Handle("cursor", engine.FoldSystem)
	d.Folder.Handle("gc", engine.FoldSystem)
	intents.Register(d.Folder)
	d.Identity.Register(d.Folder) // user, account, ws, member, invite
	d.Folder.Handle("job", jobs.Fold)
	d.Folder.Handle(blobs.Domain, blobs.Fold)
	webhooks.Register(d.Folder)
	admin.Register(d.Folder) // admin, settings, audit

	// 6b. Admin: admin stores, audit log, status, actions, verify, backup.
	if d.Admin, err = newAdmin(cfg, d); err != nil {
		return nil, err
	}

	// 7. The watch hub: fans committed changes out to SSE and WebSocket
	//    streams (after catching each up from the log). Its refusals are
	//    answered the way every other endpoint answers.
	d.Hub = watch.NewHub(d.Engine, watch.Config{
		Logger:     cfg.Logger,
		WriteError: api.ErrorWriter(cfg.Logger),
	})

	// 8. The HTTP surface: decoding, the bearer token, error mapping.
	apiCfg := api.Config{
		Token:   cfg.Token,
		Sync:    d.Engine,
		History: d.Engine,
		Intents: d.Intents,
		Storage: d.Blobs,
		Stores: map[string]api.RPCStore{"auth": d.Identity, "jobs": d.Jobs, "notifications": d.Notifications,
			"rateLimit": d.Limits, "webhooks": d.Webhooks,
			"workspaceAccess": d.Admin.Access(), "workspaceSettings": d.Admin.Settings(), "adminUsers": d.Admin.Users()},
		Admin:   d.Admin,
		Limiter: apiLimiter{d.buckets},
		Jobs:    d.Jobs,
		Watch:   d.Hub,
		Ready:   d.DB.Healthy,
		Version: cfg.Version,
		Metrics: d.Metrics,
		Logger:  cfg.Logger,
		Forward: newForward(cfg, cfg.Peers, d, peerClient()), // home-region decisions
	}
	if cfg.TestHooks {
		apiCfg.SetClockOffset = d.Clock.SetOffset
		d.log.Warn("test hooks enabled: POST /v1/test/clock moves the clock; never use this in production")
	}
	if d.API, err = api.NewServer(apiCfg); err != nil {
		return nil, err
	}

	// 9. The HTTP server, with limits against slow or oversized clients.
	d.HTTP = &http.Server{
		Handler:           d.API,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	return d, nil
}

// intentReservations adapts intents.Store to engine.Reservations.
type intentReservations struct{ s *intents.Store }

func (a intentReservations) ActiveReservations(r synclog.Reader, ws, hash, after string, now int64, limit int) ([]engine.Reservation, bool, error) {
	res, more, err := a.s.ActiveReservations(r, ws, hash, after, now, limit)
	out := make([]engine.Reservation, len(res))
	for i, x := range res {
		out[i] = engine.Reservation{ID: x.ID, Hash: x.Hash, SizeBytes: x.SizeBytes, ExpiresAt: x.ExpiresAt}
	}
	return out, more, err
}

// identityRoles adapts identity.Store to engine.Roles.
type identityRoles struct{ s *identity.Store }

func (r identityRoles) Role(ctx context.Context, ws, user string) (string, error) {
	role, err := r.s.Role(ctx, ws, user)
	return string(role), err
}

// Start binds the listen address and serves in the background. Serve
// failures arrive on Err.
func (d *Daemon) Start() error {
	ln, err := net.Listen("tcp", d.cfg.Listen)
	if err != nil {
		return fmt.Errorf("daemon: listen %s: %w", d.cfg.Listen, err)
	}
	d.ln = ln
	d.log.Info("listening", "addr", ln.Addr().String())
	d.Engine.Start()   // the maintenance loop: history GC, snapshot session janitor
	d.Limits.Start()   // flush windows every 500 ms, clean idle ones hourly
	d.Webhooks.Start() // enqueue, dispatch, reap, purge
	d.Jobs.Start()     // cleanupExpired every 30 s: idle timeouts, retention
	d.Blobs.Start()    // the abandoned-upload sweep every 10 min
	if d.Replica != nil {
		d.Replica.Start() // publish and consume in the background
	}
	go func() {
		err := d.HTTP.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		d.serveCh <- err
	}()
	return nil
}

// Addr is the bound address (after Start).
func (d *Daemon) Addr() net.Addr { return d.ln.Addr() }

// URL is the base URL of the bound address (after Start).
func (d *Daemon) URL() string { return "http://" + d.ln.Addr().String() }

// Err delivers the error that stopped serving (nil after Shutdown).
func (d *Daemon) Err() <-chan error { return d.serveCh }

// Shutdown stops the daemon: it stops accepting connections, ends the
// watch streams, drains in-flight requests (until ctx ends or, without a
// deadline, Config.ShutdownTimeout), then closes the log (its last group
// commit answered, WAL synced, Pebble closed). It returns the log's close
// error; a drain that timed out is logged and the remaining connections
// are closed.
func (d *Daemon) Shutdown(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.cfg.ShutdownTimeout)
		defer cancel()
	}
	start := time.Now()
	if d.ln != nil {
		// Stop accepting and drain in-flight requests, while the watch
		// streams (which never go idle by themselves) are ended beside it:
		// the hub ends them cleanly, and whatever is still open after a
		// short grace has its context cancelled.
		drained := make(chan error, 1)
		go func() { drained <- d.HTTP.Shutdown(ctx) }()
		d.Hub.Close()
		grace, cancel := context.WithTimeout(ctx, streamGrace)
		if err := d.API.CloseStreams(grace); err != nil {
			d.log.Warn("watch streams did not end in time", "err", err)
		}
		cancel()
		if err := <-drained; err != nil {
			d.log.Warn("drain timed out; closing remaining connections", "err", err)
			_ = d.HTTP.Close()
		}
	} else {
		d.Hub.Close()
	}
	if d.Replica != nil {
		d.Replica.Close() // before the log: the appliers commit to it
	}
	d.Engine.Close() // stops maintenance, releases snapshot views
	d.Webhooks.Close()
	d.Jobs.Close()
	// The abandoned-upload sweep: waits for a sweep in progress.
	d.Blobs.Close()
	if err := d.Limits.Close(); err != nil { // the last flush of the windows
		d.log.Warn("rate-limit windows not flushed", "err", err)
	}
	err := d.DB.Close()
	d.log.Info("stopped", "took", time.Since(start).Round(time.Millisecond), "err", err)
	return err
}
