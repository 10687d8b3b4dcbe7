package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// settings is every setting of api.md's "Running" table plus syncd's own
// (logging, config file, shutdown timeout), after precedence:
// flag > env > config file > default.
type settings struct {
	Config          string
	Listen          string
	DataDir         string
	Token           string
	Region          string
	TestHooks       bool
	LogFormat       string
	LogLevel        string
	ShutdownTimeout time.Duration
	DebugAddr       string // net/http/pprof listener; off when empty
	// HTTP limits against slow clients (daemon.Config's).
	ReadHeaderTimeout, ReadTimeout, IdleTimeout time.Duration

	// Parsed and validated, not yet used (their features do not exist).
	Blob                string
	S3AccessKey         string // env only (a secret)
	S3SecretKey         string // env only (a secret)
	AdminBridgeSecret   string // env only (a secret)
	NATSURL             string
	NATSListen          string
	NATSRoutes          string
	Peers               []string
	StorageQuotaBytes   int64
	StorageMaxFileBytes int64
	StorageMIMEAllow    string
	RateLimits          []string
	WebhookAllowPrivate bool
	JobsMaxPerUser      int64
	MemTableMB          int64 // Pebble memtable size
	CacheMB             int64 // Pebble block cache for sstable blocks
	GCPercent           int64 // Go GC target percentage (GOGC)
	JobsMaxGlobal       int64

	// source names where each setting came from (flag, env, file,
	// default), for the start-up log.
	source map[string]string
}

// setting describes one setting: its flag name (also its config-file key),
// its env variable, its default, and how to apply a value.
type setting struct {
	name  string
	env   string
	def   string
	help  string
	bool  bool // a flag that needs no value
	list  bool // repeatable; env and file values are comma-separated
	apply func(s *settings, v string) error
	// unsupported: the feature does not exist yet; a non-default value is
	// accepted, validated and logged as ignored.
	unsupported bool
	secret      bool // never logged
}

func str(dst func(*settings) *string) func(*settings, string) error {
	return func(s *settings, v string) error { *dst(s) = v; return nil }
}

func boolean(dst func(*settings) *bool) func(*settings, string) error {
	return func(s *settings, v string) error {
		b, err := parseBool(v)
		if err != nil {
			return err
		}
		*dst(s) = b
		return nil
	}
}

func duration(dst func(*settings) *time.Duration) func(*settings, string) error {
	return func(s *settings, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return errors.New("must be a positive duration such as 10s")
		}
		*dst(s) = d
		return nil
	}
}

func integer(min int64, dst func(*settings) *int64) func(*settings, string) error {
	return func(s *settings, v string) error {
		n, err := parseSize(v)
		if err != nil {
			return err
		}
		if n < min {
			return fmt.Errorf("must be at least %d", min)
		}
		*dst(s) = n
		return nil
	}
}

// settingsTable is the one list of settings: flags, env, config-file keys,
// defaults and usage all come from it.
var settingsTable = []setting{
	{name: "config", env: "SYNCD_CONFIG", help: "optional config file of `key = value` lines (keys are flag names)",
		apply: str(func(s *settings) *string { return &s.Config })},
	{name: "listen", env: "SYNCD_LISTEN", def: "127.0.0.1:7420", help: "HTTP listen address",
		apply: func(s *settings, v string) error {
			if _, _, err := net.SplitHostPort(v); err != nil {
				return fmt.Errorf("want host:port: %v", err)
			}
			s.Listen = v
			return nil
		}},
	{name: "data-dir", env: "SYNCD_DATA_DIR", def: "./syncd-data", help: "data directory (Pebble log, blobs, secrets)",
		apply: func(s *settings, v string) error {
			if strings.TrimSpace(v) == "" {
				return errors.New("must not be empty")
			}
			s.DataDir = v
			return nil
		}},
	{name: "token", env: "SYNCD_TOKEN", help: "service token (default: generated on first start, kept in <data-dir>/token)", secret: true,
		apply: func(s *settings, v string) error {
			if v != "" && (len(v) < minTokenLen || strings.ContainsAny(v, " \t\r\n")) {
				return fmt.Errorf("must be at least %d characters without whitespace", minTokenLen)
			}
			s.Token = v
			return nil
		}},
	{name: "region", env: "SYNCD_REGION", def: "local", help: "region name",
		apply: func(s *settings, v string) error {
			if !regionRE.MatchString(v) {
				return errors.New("must be 1..64 characters of letters, digits, '.', '_' or '-'")
			}
			s.Region = v
			return nil
		}},
	{name: "test-hooks", env: "SYNCD_TEST_HOOKS", def: "false", bool: true, help: "enable POST /v1/test/clock (never in production)",
		apply: boolean(func(s *settings) *bool { return &s.TestHooks })},
	{name: "log-format", env: "SYNCD_LOG_FORMAT", def: "text", help: "log format: text or json",
		apply: func(s *settings, v string) error {
			if v != "text" && v != "json" {
				return errors.New("must be text or json")
			}
			s.LogFormat = v
			return nil
		}},
	{name: "log-level", env: "SYNCD_LOG_LEVEL", def: "info", help: "log level: debug, info, warn or error",
		apply: func(s *settings, v string) error {
			if _, err := parseLevel(v); err != nil {
				return err
			}
			s.LogLevel = v
			return nil
		}},
	{name: "debug-addr", env: "SYNCD_DEBUG_ADDR", help: "serve Go's profiler (net/http/pprof) on this loopback host:port; off when empty",
		apply: func(s *settings, v string) error {
			if v == "" {
				s.DebugAddr = ""
				return nil
			}
			host, _, err := net.SplitHostPort(v)
			if err != nil {
				return fmt.Errorf("want host:port: %v", err)
			}
			if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
				return errors.New("must be a loopback address: the profiler has no authentication")
			}
			s.DebugAddr = v
			return nil
		}},
	{name: "shutdown-timeout", env: "SYNCD_SHUTDOWN_TIMEOUT", def: "30s", help: "how long shutdown waits for in-flight requests",
		apply: func(s *settings, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return errors.New("must be a positive duration such as 30s")
			}
			s.ShutdownTimeout = d
			return nil
		}},
	{name: "read-header-timeout", env: "SYNCD_READ_HEADER_TIMEOUT", def: "10s", help: "how long a client may take to send a request's headers",
		apply: duration(func(s *settings) *time.Duration { return &s.ReadHeaderTimeout })},
	{name: "read-timeout", env: "SYNCD_READ_TIMEOUT", def: "60s", help: "how long a client may take to send a whole request, body included (not watch streams or blob transfers)",
		apply: duration(func(s *settings) *time.Duration { return &s.ReadTimeout })},
	{name: "idle-timeout", env: "SYNCD_IDLE_TIMEOUT", def: "120s", help: "how long an idle keep-alive connection stays open",
		apply: duration(func(s *settings) *time.Duration { return &s.IdleTimeout })},

	// --- settings whose features do not exist yet ---
	{name: "blob", env: "SYNCD_BLOB", def: "fs",
		help: "blob backend: fs, or s3://bucket?endpoint=host:port&secure=false",
		apply: func(s *settings, v string) error {
			if err := checkBlob(v); err != nil {
				return err
			}
			s.Blob = v
			return nil
		}},
	{name: "nats-url", env: "SYNCD_NATS_URL", help: "external NATS cluster URL (default: embedded single-node JetStream)",
		apply: func(s *settings, v string) error {
			if v != "" {
				if err := checkURL(v, "nats", "tls", "ws", "wss"); err != nil {
					return err
				}
			}
			s.NATSURL = v
			return nil
		}},
	{name: "nats-listen", env: "SYNCD_NATS_LISTEN", help: "embedded NATS listen address",
		apply: func(s *settings, v string) error {
			if v != "" {
				if _, _, err := net.SplitHostPort(v); err != nil {
					return fmt.Errorf("want host:port: %v", err)
				}
			}
			s.NATSListen = v
			return nil
		}},
	{name: "nats-routes", env: "SYNCD_NATS_ROUTES", help: "comma-separated NATS route URLs of the other regions",
		apply: func(s *settings, v string) error {
			for _, r := range splitList(v) {
				if err := checkURL(r, "nats", "nats-route", "tls"); err != nil {
					return err
				}
			}
			s.NATSRoutes = v
			return nil
		}},
	{name: "peer", env: "SYNCD_PEERS", list: true, help: "REGION=URL of a peer region's syncd (repeatable): home-region calls are forwarded there",
		apply: func(s *settings, v string) error {
			region, u, ok := strings.Cut(v, "=")
			if !ok || !regionRE.MatchString(region) {
				return fmt.Errorf("%q: want REGION=URL", v)
			}
			if err := checkURL(u, "http", "https"); err != nil {
				return fmt.Errorf("%q: %v", v, err)
			}
			s.Peers = append(s.Peers, v)
			return nil
		}},
	{name: "storage-quota-bytes", env: "SYNCD_STORAGE_QUOTA_BYTES", def: "0",
		help:  "default workspace storage quota in bytes (0: none unless the host passes one)",
		apply: integer(0, func(s *settings) *int64 { return &s.StorageQuotaBytes })},
	{name: "storage-max-file-bytes", env: "SYNCD_STORAGE_MAX_FILE_BYTES", def: "104857600",
		help:  "largest file accepted, in bytes",
		apply: integer(1, func(s *settings) *int64 { return &s.StorageMaxFileBytes })},
	{name: "storage-mime-allow", env: "SYNCD_STORAGE_MIME_ALLOW",
		help: "comma-separated MIME types allowed for upload (type/subtype or type/*; default: the OR3 allowlist)",
		apply: func(s *settings, v string) error {
			for _, m := range splitList(v) {
				if !mimeRE.MatchString(m) {
					return fmt.Errorf("%q is not a MIME type", m)
				}
			}
			s.StorageMIMEAllow = v
			return nil
		}},
	{name: "rate-limit", env: "SYNCD_RATE_LIMITS", list: true,
		help: "BUCKET=N/WINDOW, e.g. sync:push=3/60s (repeatable)",
		apply: func(s *settings, v string) error {
			if err := checkRateLimit(v); err != nil {
				return err
			}
			s.RateLimits = append(s.RateLimits, v)
			return nil
		}},
	{name: "webhook-allow-private", env: "SYNCD_WEBHOOK_ALLOW_PRIVATE", def: "false", bool: true,
		help:  "allow webhook targets on private or loopback addresses",
		apply: boolean(func(s *settings) *bool { return &s.WebhookAllowPrivate })},
	{name: "jobs-max-per-user", env: "SYNCD_JOBS_MAX_PER_USER", def: "5",
		help:  "background jobs running at once per user",
		apply: integer(1, func(s *settings) *int64 { return &s.JobsMaxPerUser })},
	{name: "jobs-max-global", env: "SYNCD_JOBS_MAX_GLOBAL", def: "20",
		help:  "background jobs running at once in this region",
		apply: integer(1, func(s *settings) *int64 { return &s.JobsMaxGlobal })},
	{name: "memtable-mb", env: "SYNCD_MEMTABLE_MB", def: "64",
		help:  "Pebble memtable size in MiB (up to two are in memory; larger ones cost more per write)",
		apply: integer(4, func(s *settings) *int64 { return &s.MemTableMB })},
	{name: "cache-mb", env: "SYNCD_CACHE_MB", def: "64",
		help:  "Pebble block cache for sstable blocks in MiB (beside the memtables)",
		apply: integer(1, func(s *settings) *int64 { return &s.CacheMB })},
	{name: "gc-percent", env: "SYNCD_GC_PERCENT", def: "400",
		help:  "Go garbage collector target percentage (as GOGC; a GOGC environment variable wins). Syncd's Go heap is small (Pebble's memory is outside it) and push allocates fast: 400 collects a quarter as often as Go's 100",
		apply: integer(10, func(s *settings) *int64 { return &s.GCPercent })},
}

// envOnly are settings read only from the environment (secrets).
var envOnly = []struct {
	env   string
	apply func(*settings, string)
}{
	{"SYNCD_S3_ACCESS_KEY", func(s *settings, v string) { s.S3AccessKey = v }},
	{"SYNCD_S3_SECRET_KEY", func(s *settings, v string) { s.S3SecretKey = v }},
	// OR3_ADMIN_JWT_SECRET of the deployment admin bridge grant.
	{"SYNCD_ADMIN_BRIDGE_SECRET", func(s *settings, v string) { s.AdminBridgeSecret = v }},
}

const minTokenLen = 16

var (
	regionRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	mimeRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9!#$&^_.+-]*/([a-z0-9][a-z0-9!#$&^_.+-]*|\*)$`)
)

// flagValue collects a flag's occurrences as raw strings; parseSettings
// applies them after precedence is decided.
type flagValue struct {
	vals   []string
	isBool bool
}

func (f *flagValue) String() string {
	if f == nil || len(f.vals) == 0 {
		return ""
	}
	return f.vals[len(f.vals)-1]
}
func (f *flagValue) Set(v string) error { f.vals = append(f.vals, v); return nil }
func (f *flagValue) IsBoolFlag() bool   { return f.isBool }

// parseSettings resolves every setting from args (flags), getenv and the
// optional config file, with precedence flag > env > file > default. out
// receives usage text on -h.
func parseSettings(args []string, getenv func(string) string, out io.Writer) (*settings, error) {
	fs := flag.NewFlagSet("syncd", flag.ContinueOnError)
	fs.SetOutput(out)
	values := map[string]*flagValue{}
	for _, st := range settingsTable {
		v := &flagValue{isBool: st.bool}
		values[st.name] = v
		fs.Var(v, st.name, st.help)
	}
	fs.Usage = func() { usage(out) }
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}

	// The config file: named by flag or env only.
	file := map[string][]string{}
	path := values["config"].String()
	if path == "" {
		path = getenv("SYNCD_CONFIG")
	}
	if path != "" {
		var err error
		if file, err = readConfigFile(path); err != nil {
			return nil, err
		}
	}

	s := &settings{source: map[string]string{}}
	for _, st := range settingsTable {
		var raw []string
		src := "default"
		switch fv := values[st.name]; {
		case len(fv.vals) > 0:
			raw, src = fv.vals, "flag"
			if st.bool {
				// A bare --flag is "true"; --flag=false is explicit.
				raw = raw[len(raw)-1:]
			}
		case getenv(st.env) != "":
			raw, src = []string{getenv(st.env)}, "env"
		case len(file[st.name]) > 0:
			raw, src = file[st.name], "file"
		default:
			raw = []string{st.def}
		}
		if !st.list && len(raw) > 1 {
			if src == "file" {
				return nil, fmt.Errorf("config file %s: %s is set more than once", path, st.name)
			}
			raw = raw[len(raw)-1:] // a repeated scalar flag: the last wins, as with the flag package
		}
		if st.list {
			var items []string
			for _, r := range raw {
				if src == "flag" {
					items = append(items, r)
				} else {
					items = append(items, splitList(r)...)
				}
			}
			raw = items
		}
		for _, v := range raw {
			if err := st.apply(s, strings.TrimSpace(v)); err != nil {
				return nil, fmt.Errorf("%s (--%s / %s, from %s): %v", st.name, st.name, st.env, src, err)
			}
		}
		s.source[st.name] = src
	}
	for _, e := range envOnly {
		e.apply(s, getenv(e.env))
	}
	if strings.HasPrefix(s.Blob, "s3://") && (s.S3AccessKey == "") != (s.S3SecretKey == "") {
		return nil, errors.New("blob: set both SYNCD_S3_ACCESS_KEY and SYNCD_S3_SECRET_KEY, or neither")
	}
	return s, nil
}

// unsupportedSet returns the not-yet-supported settings set to something
// other than their default, as name → value (for a warning each).
func (s *settings) unsupportedSet() map[string]string {
	out := map[string]string{}
	for _, st := range settingsTable {
		if v := s.valueOf(st.name); st.unsupported && v != st.def {
			out[st.name] = v
		}
	}
	return out
}

func (s *settings) valueOf(name string) string {
	switch name {
	case "blob":
		return s.Blob
	case "nats-url":
		return s.NATSURL
	case "nats-listen":
		return s.NATSListen
	case "nats-routes":
		return s.NATSRoutes
	case "peer":
		return strings.Join(s.Peers, ",")
	case "storage-quota-bytes":
		return strconv.FormatInt(s.StorageQuotaBytes, 10)
	case "storage-max-file-bytes":
		return strconv.FormatInt(s.StorageMaxFileBytes, 10)
	case "storage-mime-allow":
		return s.StorageMIMEAllow
	case "rate-limit":
		return strings.Join(s.RateLimits, ",")
	case "webhook-allow-private":
		return strconv.FormatBool(s.WebhookAllowPrivate)
	case "jobs-max-per-user":
		return strconv.FormatInt(s.JobsMaxPerUser, 10)
	case "jobs-max-global":
		return strconv.FormatInt(s.JobsMaxGlobal, 10)
	case "memtable-mb":
		return strconv.FormatInt(s.MemTableMB, 10)
	case "cache-mb":
		return strconv.FormatInt(s.CacheMB, 10)
	case "gc-percent":
		return strconv.FormatInt(s.GCPercent, 10)
	}
	return ""
}

// readConfigFile reads `key = value` lines. Keys are flag names; '#'
// starts a comment line; a value may be wrapped in double quotes; a
// repeatable setting may appear on several lines.
func readConfigFile(path string) (map[string][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	known := map[string]bool{}
	for _, st := range settingsTable {
		known[st.name] = true
	}
	out := map[string][]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		if !ok || key == "" {
			return nil, fmt.Errorf("config file %s:%d: want key = value", path, n)
		}
		if !known[key] || key == "config" {
			return nil, fmt.Errorf("config file %s:%d: unknown setting %q", path, n, key)
		}
		if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
			uq, err := strconv.Unquote(val)
			if err != nil {
				return nil, fmt.Errorf("config file %s:%d: %v", path, n, err)
			}
			val = uq
		}
		out[key] = append(out[key], val)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return out, nil
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes", "on":
		return true, nil
	case "0", "false", "no", "off", "":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (1/0, true/false, yes/no, on/off)", v)
}

// parseSize parses a non-negative integer, optionally with a binary suffix
// (KiB, MiB, GiB).
func parseSize(v string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if strings.HasSuffix(v, u.suffix) {
			v, mult = strings.TrimSpace(strings.TrimSuffix(v, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a non-negative integer", v)
	}
	return n * mult, nil
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// peerMap turns the REGION=URL peers (checked when parsed) into a map.
func peerMap(peers []string) map[string]string {
	out := map[string]string{}
	for _, p := range peers {
		if region, u, ok := strings.Cut(p, "="); ok {
			out[region] = u
		}
	}
	return out
}

func checkURL(v string, schemes ...string) error {
	u, err := url.Parse(v)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %v", v, err)
	}
	for _, s := range schemes {
		if u.Scheme == s && u.Host != "" {
			return nil
		}
	}
	return fmt.Errorf("%q: want a %s URL with a host", v, strings.Join(schemes, "/"))
}

// checkBlob validates the blob backend: "fs" or
// s3://bucket?endpoint=host:port&secure=false.
func checkBlob(v string) error {
	if v == "fs" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return fmt.Errorf("%q: want fs or s3://bucket?endpoint=host:port&secure=false", v)
	}
	q := u.Query()
	if ep := q.Get("endpoint"); ep != "" {
		if _, _, err := net.SplitHostPort(ep); err != nil {
			return fmt.Errorf("endpoint %q: want host:port", ep)
		}
	}
	if sec := q.Get("secure"); sec != "" {
		if _, err := parseBool(sec); err != nil {
			return fmt.Errorf("secure: %v", err)
		}
	}
	return nil
}

// rateBuckets are the sync endpoint buckets of api.md.
var rateBuckets = map[string]bool{"sync:push": true, "sync:pull": true, "sync:snapshot": true, "sync:cursor": true, "sync:gc": true}

// checkRateLimit validates BUCKET=N/WINDOW.
func checkRateLimit(v string) error {
	bucket, rest, ok := strings.Cut(v, "=")
	n, window, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 {
		return fmt.Errorf("%q: want BUCKET=N/WINDOW, e.g. sync:push=3/60s", v)
	}
	if !rateBuckets[bucket] {
		names := make([]string, 0, len(rateBuckets))
		for b := range rateBuckets {
			names = append(names, b)
		}
		sort.Strings(names)
		return fmt.Errorf("%q: unknown bucket %q (one of %s)", v, bucket, strings.Join(names, ", "))
	}
	if c, err := strconv.Atoi(n); err != nil || c < 1 {
		return fmt.Errorf("%q: N must be a positive integer", v)
	}
	if d, err := time.ParseDuration(window); err != nil || d <= 0 {
		return fmt.Errorf("%q: WINDOW must be a positive duration such as 60s", v)
	}
	return nil
}

// usage prints every setting with its flag, env and default.
func usage(w io.Writer) {
	fmt.Fprintf(w, `syncd — a self-hosted sync backend

Usage:
  syncd [serve] [flags]   start the server (the default sub-command)
  syncd version           print the build version
  syncd bench --out DIR   benchmark: OR3-shaped load on a child syncd, report in DIR

Every flag has an env form; a config file of "key = value" lines (keys are
the flag names) is optional. Precedence: flag > env > config file > default.

Flags:
`)
	for _, st := range settingsTable {
		def := st.def
		if def == "" {
			def = "none"
		}
		note := ""
		if st.unsupported {
			note = " [not yet supported: validated and ignored]"
		}
		fmt.Fprintf(w, "  --%s  (%s, default %s)\n      %s%s\n", st.name, st.env, def, st.help, note)
	}
	fmt.Fprintf(w, "  (env only) SYNCD_S3_ACCESS_KEY, SYNCD_S3_SECRET_KEY: S3 credentials\n")
}
