// Command syncd is the sync server. `syncd` (or `syncd serve`) starts it
// with embedded defaults; every setting of ../../shared/spec/api.md's
// "Running" table is a flag, an env variable and a config-file key.
//
// main reads the configuration, prepares the data directory and its
// secrets, then hands a finished daemon.Config to package daemon, which
// wires the modules together; it waits for SIGTERM/SIGINT and shuts down
// gracefully (drain, end watch streams, close the log) with exit status 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"

	"github.com/or3/syncd/daemon"
	synclog "github.com/or3/syncd/log"
)

// version is the build version; release builds set it with
// -ldflags "-X main.version=v1.2.3". Otherwise the module version or VCS
// revision from the build info is used.
var version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, stop)
	stop()
	os.Exit(code)
}

// run is syncd's whole life; it returns the exit status. ctx ending (a
// signal) starts the graceful shutdown; stopSignals, called then, restores
// the default signal behaviour so a second Ctrl-C kills at once.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, stopSignals func()) int {
	// 1. The sub-command: serve (the default), version or bench.
	if len(args) > 0 {
		switch args[0] {
		case "serve":
			args = args[1:]
		case "version":
			fmt.Fprintln(stdout, buildVersion())
			return 0
		case "help":
			usage(stdout)
			return 0
		case "bench":
			return runBench(ctx, args[1:], stdout, stderr)
		case "admin":
			return runAdmin(ctx, args[1:], getenv, stdout, stderr)
		}
	}

	// 2. Settings: flag > env > config file > default.
	s, err := parseSettings(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "syncd: %v\n", err)
		return 2
	}

	// 3. Logging, then everything else logs through it.
	log := newLogger(s, stderr)
	log.Info("starting syncd", "version", buildVersion(), "listen", s.Listen, "dataDir", s.DataDir,
		"region", s.Region, "config", s.Config, "testHooks", s.TestHooks)
	for name, v := range s.unsupportedSet() {
		log.Warn("setting not yet supported; ignored", "setting", name, "value", v)
	}

	// 4. Every watch stream holds a socket: raise the open-file limit.
	raiseOpenFiles(log)
	// The Go heap is small beside Pebble's memory (memtables and block
	// cache live outside it) while pushes allocate fast, so at Go's default
	// of 100 the collector ran about every few MiB of garbage: ~9% of
	// syncd's CPU under push load. An explicit GOGC is the operator's.
	if getenv("GOGC") == "" {
		debug.SetGCPercent(int(s.GCPercent))
	}

	// 5. The data directory and its secrets: the service token (unless
	//    configured) and the cluster secret user ids are derived from.
	if err := os.MkdirAll(s.DataDir, 0o700); err != nil {
		log.Error("cannot create the data directory", "dataDir", s.DataDir, "err", err)
		return 1
	}
	token, generated, err := loadOrCreateToken(s.DataDir, s.Token, log)
	if err != nil {
		log.Error("service token", "err", err)
		return 1
	}
	if generated {
		// Printed once, on the start that created it.
		fmt.Fprintf(stderr, "\nsyncd: generated a service token (kept in %s, mode 0600; shown only now):\n\n    %s\n\n",
			filepath.Join(s.DataDir, tokenFile), token)
	}
	secret, err := loadOrCreateSecret(s.DataDir, log)
	if err != nil {
		log.Error("cluster secret", "err", err)
		return 1
	}

	// 6. The daemon: log, identity, engine, watch, API, HTTP server.
	d, err := daemon.New(daemon.Config{
		DataDir:         s.DataDir,
		Listen:          s.Listen,
		Token:           token,
		Secret:          secret,
		Region:          s.Region,
		TestHooks:       s.TestHooks,
		Version:         buildVersion(),
		ShutdownTimeout: s.ShutdownTimeout,
		// Limits against slow clients: headers, whole request, idle.
		ReadHeaderTimeout: s.ReadHeaderTimeout,
		ReadTimeout:       s.ReadTimeout,
		IdleTimeout:       s.IdleTimeout,
		JobsMaxPerUser:    int(s.JobsMaxPerUser),
		JobsMaxGlobal:     int(s.JobsMaxGlobal),
		// Pebble's memory: memtables and the block cache.
		TuneLog: func(c *synclog.Config) {
			c.MemTableSize = uint64(s.MemTableMB) << 20
			c.CacheSize = s.CacheMB << 20
		},
		// Blob storage: the backend, its S3 credentials and the limits.
		Blob:                s.Blob,
		S3AccessKey:         s.S3AccessKey,
		S3SecretKey:         s.S3SecretKey,
		StorageQuotaBytes:   s.StorageQuotaBytes,
		StorageMaxFileBytes: s.StorageMaxFileBytes,
		StorageMimeAllow:    splitList(s.StorageMIMEAllow),
		// Per-user sync endpoint limits and webhook targets.
		RateLimits:          s.RateLimits,
		WebhookAllowPrivate: s.WebhookAllowPrivate,
		// Replication: embedded JetStream unless an external NATS is named.
		NATSURL:    s.NATSURL,
		NATSListen: s.NATSListen,
		NATSRoutes: splitList(s.NATSRoutes),
		Peers:      peerMap(s.Peers),
		// The deployment admin bridge grant (admin RPC store).
		AdminBridgeSecret: s.AdminBridgeSecret,
		Logger:            log,
	})
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	if err := d.Start(); err != nil {
		log.Error("cannot listen", "err", err)
		_ = d.Shutdown(context.Background())
		return 1
	}

	if s.DebugAddr != "" {
		stopDebug, err := startDebug(s.DebugAddr, log)
		if err != nil {
			log.Error("cannot listen for the profiler", "addr", s.DebugAddr, "err", err)
			_ = d.Shutdown(context.Background())
			return 1
		}
		defer stopDebug()
	}

	// 7. Serve until a signal (or a fatal serve error), then shut down:
	//    stop accepting, end watch streams, drain, close the log.
	code := 0
	select {
	case <-ctx.Done():
		log.Info("shutting down", "timeout", s.ShutdownTimeout)
	case err := <-d.Err():
		log.Error("server failed", "err", err)
		code = 1
	}
	if stopSignals != nil {
		stopSignals()
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.ShutdownTimeout)
	defer cancel()
	if err := d.Shutdown(sctx); err != nil {
		log.Error("closing the log failed", "err", err)
		return 1
	}
	return code
}

func newLogger(s *settings, w io.Writer) *slog.Logger {
	level, _ := parseLevel(s.LogLevel)
	opts := &slog.HandlerOptions{Level: level}
	if s.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func parseLevel(v string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(v)); err != nil {
		return 0, fmt.Errorf("%q: want debug, info, warn or error", v)
	}
	return l, nil
}

// buildVersion is the -ldflags version, else the module version, else the
// VCS revision, else "dev".
func buildVersion() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", false
	for _, kv := range bi.Settings {
		switch kv.Key {
		case "vcs.revision":
			rev = kv.Value
		case "vcs.modified":
			dirty = kv.Value == "true"
		}
	}
	if rev == "" {
		return "dev"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return "dev-" + rev
}
