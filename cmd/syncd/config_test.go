package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "syncd.conf")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSettings_Defaults(t *testing.T) {
	s, err := parseSettings(nil, envOf(nil), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	if s.Listen != "127.0.0.1:7420" || s.DataDir != "./syncd-data" || s.Region != "local" || s.Token != "" ||
		s.TestHooks || s.LogFormat != "text" || s.LogLevel != "info" || s.ShutdownTimeout != 30*time.Second ||
		s.Blob != "fs" || s.StorageMaxFileBytes != 100<<20 || s.JobsMaxPerUser != 5 || s.JobsMaxGlobal != 20 {
		t.Fatalf("defaults: %+v", s)
	}
	if u := s.unsupportedSet(); len(u) != 0 {
		t.Fatalf("unsupported settings reported at defaults: %v", u)
	}
}

// TestSettings_Precedence checks flag > env > file > default for every
// kind of setting.
func TestSettings_Precedence(t *testing.T) {
	file := writeFile(t, `
# a comment
listen = 127.0.0.1:1001
data-dir = "/from/file"
region = file-region
log-level = debug
peer = a=http://a:1
peer = b=http://b:1
jobs-max-global = 7
`)
	env := map[string]string{
		"SYNCD_CONFIG":    file,
		"SYNCD_LISTEN":    "127.0.0.1:1002",
		"SYNCD_REGION":    "env-region",
		"SYNCD_PEERS":     "c=http://c:1, d=https://d:2",
		"SYNCD_LOG_LEVEL": "",
	}
	s, err := parseSettings([]string{"--listen", "127.0.0.1:1003", "--test-hooks"}, envOf(env), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	check("listen (flag over env and file)", s.Listen, "127.0.0.1:1003")
	check("region (env over file)", s.Region, "env-region")
	check("data-dir (file over default)", s.DataDir, "/from/file")
	check("log-level (empty env is unset: file)", s.LogLevel, "debug")
	check("peers (env over file, comma-separated)", s.Peers, []string{"c=http://c:1", "d=https://d:2"})
	check("jobs-max-global (file)", s.JobsMaxGlobal, int64(7))
	check("test-hooks (bare flag)", s.TestHooks, true)
	check("log-format (default)", s.LogFormat, "text")
	check("source of listen", s.source["listen"], "flag")
	check("source of region", s.source["region"], "env")
	check("source of data-dir", s.source["data-dir"], "file")

	// Repeated flags of a repeatable setting accumulate; --config by flag.
	s, err = parseSettings([]string{"--config", file, "--peer", "x=http://x:1", "--peer", "y=http://y:1", "--test-hooks=false"},
		envOf(map[string]string{"SYNCD_TEST_HOOKS": "1"}), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	check("peers (flags)", s.Peers, []string{"x=http://x:1", "y=http://y:1"})
	check("test-hooks=false flag over env 1", s.TestHooks, false)
	check("listen from file", s.Listen, "127.0.0.1:1001")

	s, err = parseSettings(nil, envOf(map[string]string{"SYNCD_TEST_HOOKS": "1"}), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	check("SYNCD_TEST_HOOKS=1", s.TestHooks, true)
}

// TestSettings_Invalid checks that bad values fail start-up with a message
// naming the setting.
func TestSettings_Invalid(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  map[string]string
		file string
		want string
	}{
		{"listen without port", []string{"--listen", "localhost"}, nil, "", "listen"},
		{"profiler off loopback", []string{"--debug-addr", "0.0.0.0:6060"}, nil, "", "debug-addr"},
		{"profiler without port", nil, map[string]string{"SYNCD_DEBUG_ADDR": "127.0.0.1"}, "", "debug-addr"},
		{"short token", []string{"--token", "short"}, nil, "", "token"},
		{"token with space", nil, map[string]string{"SYNCD_TOKEN": "0123456789abcdef 0123"}, "", "token"},
		{"bad region", []string{"--region", "a b"}, nil, "", "region"},
		{"bad log format", []string{"--log-format", "xml"}, nil, "", "log-format"},
		{"bad log level", nil, map[string]string{"SYNCD_LOG_LEVEL": "loud"}, "", "log-level"},
		{"bad bool", nil, map[string]string{"SYNCD_TEST_HOOKS": "maybe"}, "", "test-hooks"},
		{"bad blob", []string{"--blob", "ftp://x"}, nil, "", "blob"},
		{"bad s3 endpoint", []string{"--blob", "s3://bucket?endpoint=nohost"}, nil, "", "blob"},
		{"half s3 credentials", []string{"--blob", "s3://bucket"}, map[string]string{"SYNCD_S3_ACCESS_KEY": "a"}, "", "SYNCD_S3"},
		{"bad peer", []string{"--peer", "eu"}, nil, "", "peer"},
		{"bad peer url", []string{"--peer", "eu=ftp://x"}, nil, "", "peer"},
		{"bad nats url", []string{"--nats-url", "http://x"}, nil, "", "nats-url"},
		{"negative quota", []string{"--storage-quota-bytes", "-1"}, nil, "", "storage-quota-bytes"},
		{"zero max file", []string{"--storage-max-file-bytes", "0"}, nil, "", "storage-max-file-bytes"},
		{"bad mime", []string{"--storage-mime-allow", "image/png,notamime"}, nil, "", "storage-mime-allow"},
		{"bad rate limit bucket", []string{"--rate-limit", "sync:nope=1/60s"}, nil, "", "rate-limit"},
		{"bad rate limit window", nil, map[string]string{"SYNCD_RATE_LIMITS": "sync:push=3/forever"}, "", "rate-limit"},
		{"zero jobs", []string{"--jobs-max-per-user", "0"}, nil, "", "jobs-max-per-user"},
		{"bad shutdown timeout", []string{"--shutdown-timeout", "-1s"}, nil, "", "shutdown-timeout"},
		{"unknown flag", []string{"--nope"}, nil, "", "nope"},
		{"stray argument", []string{"extra"}, nil, "", "extra"},
		{"unknown file key", nil, nil, "nope = 1", "unknown setting"},
		{"file line without =", nil, nil, "listen", "key = value"},
		{"file scalar twice", nil, nil, "region = a\nregion = b", "more than once"},
		{"bad value from file", nil, nil, "region = a b", "from file"},
		{"missing file", []string{"--config", "/does/not/exist"}, nil, "", "config file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.file != "" {
				args = append([]string{"--config", writeFile(t, tc.file)}, args...)
			}
			var out strings.Builder
			_, err := parseSettings(args, envOf(tc.env), &out)
			if err == nil || !strings.Contains(err.Error()+out.String(), tc.want) {
				t.Fatalf("err %v (output %q), want one mentioning %q", err, out.String(), tc.want)
			}
		})
	}
}

// TestSettings_Unsupported checks that settings of features that do not
// exist yet are accepted and reported, not refused.
func TestSettings_Unsupported(t *testing.T) {
	s, err := parseSettings([]string{
		"--blob", "s3://bucket?endpoint=minio:9000&secure=false",
		"--nats-url", "nats://n:4222", "--nats-listen", ":4222", "--nats-routes", "nats://a:6222,nats://b:6222",
		"--peer", "eu=https://eu.example.com",
		"--storage-quota-bytes", "1GiB", "--storage-max-file-bytes", "10MiB", "--storage-mime-allow", "image/png,image/*",
		"--rate-limit", "sync:push=3/60s", "--rate-limit", "sync:pull=600/1m",
		"--webhook-allow-private", "--jobs-max-per-user", "2", "--jobs-max-global", "9",
	}, envOf(map[string]string{"SYNCD_S3_ACCESS_KEY": "a", "SYNCD_S3_SECRET_KEY": "b"}), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	got := s.unsupportedSet()
	for _, name := range []string{"nats-url", "nats-listen", "nats-routes", "peer"} {
		if _, ok := got[name]; ok {
			t.Errorf("%s (replication exists) reported as unsupported", name)
		}
	}
	for _, name := range []string{"blob", "storage-quota-bytes", "storage-max-file-bytes", "storage-mime-allow"} {
		if _, ok := got[name]; ok {
			t.Errorf("%s (blob storage exists) reported as unsupported", name)
		}
	}
	for _, name := range []string{"rate-limit", "webhook-allow-private"} {
		if _, ok := got[name]; ok {
			t.Errorf("%s (limits and webhooks exist) reported as unsupported", name)
		}
	}
	if len(s.RateLimits) != 2 || !s.WebhookAllowPrivate {
		t.Errorf("rate limits %v, allow private %v", s.RateLimits, s.WebhookAllowPrivate)
	}
	if _, ok := got["jobs-max-per-user"]; ok || s.JobsMaxPerUser != 2 || s.JobsMaxGlobal != 9 {
		t.Errorf("job limits are supported: %v, %d %d", got, s.JobsMaxPerUser, s.JobsMaxGlobal)
	}
	if s.StorageQuotaBytes != 1<<30 || s.StorageMaxFileBytes != 10<<20 {
		t.Errorf("sizes %d %d", s.StorageQuotaBytes, s.StorageMaxFileBytes)
	}
	// Explicitly setting a default is not reported.
	s, err = parseSettings([]string{"--blob", "fs", "--jobs-max-global", "20"}, envOf(nil), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	if u := s.unsupportedSet(); len(u) != 0 {
		t.Fatalf("defaults reported: %v", u)
	}
}

func TestSecrets_TokenAndClusterSecret(t *testing.T) {
	dir := t.TempDir()
	log := testLog()
	tok, gen, err := loadOrCreateToken(dir, "", log)
	if err != nil || !gen || len(tok) < minTokenLen {
		t.Fatalf("first start: %q %v %v", tok, gen, err)
	}
	fi, err := os.Stat(filepath.Join(dir, tokenFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", fi.Mode(), err)
	}
	tok2, gen2, err := loadOrCreateToken(dir, "", log)
	if err != nil || gen2 || tok2 != tok {
		t.Fatalf("second start: %q %v %v", tok2, gen2, err)
	}
	// A configured token wins and leaves the file alone.
	tok3, gen3, err := loadOrCreateToken(dir, "configured-token-0123456789", log)
	if err != nil || gen3 || tok3 != "configured-token-0123456789" {
		t.Fatalf("configured: %q %v %v", tok3, gen3, err)
	}
	sec, err := loadOrCreateSecret(dir, log)
	if err != nil || len(sec) != 32 {
		t.Fatalf("secret: %x %v", sec, err)
	}
	sec2, _ := loadOrCreateSecret(dir, log)
	if string(sec) != string(sec2) {
		t.Fatal("cluster secret changed between starts")
	}
	if fi, _ := os.Stat(filepath.Join(dir, secretFile)); fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file mode %v", fi.Mode())
	}
	// A world-readable secret file is tightened.
	_ = os.Chmod(filepath.Join(dir, secretFile), 0o644)
	if _, err := loadOrCreateSecret(dir, log); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, secretFile)); fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file mode %v after tightening", fi.Mode())
	}
	// A corrupt secret file is refused, never replaced.
	_ = os.WriteFile(filepath.Join(dir, secretFile), []byte("zz"), 0o600)
	if _, err := loadOrCreateSecret(dir, log); err == nil {
		t.Fatal("corrupt secret accepted")
	}
}
