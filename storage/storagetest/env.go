package storagetest

import (
	"os"
	"testing"
)

// S3Env is where scripts/test.sh tells tests the MinIO server it started
// lives.
type S3Env struct {
	Endpoint  string // host:port
	AccessKey string
	SecretKey string
}

// RequireS3 returns the MinIO server of SYNCD_TEST_S3_ENDPOINT (with
// SYNCD_TEST_S3_ACCESS_KEY / SYNCD_TEST_S3_SECRET_KEY). Without it the
// test is skipped on a developer machine and fails in CI (CI=true): CI
// must never pass by skipping the object-store tests.
func RequireS3(t testing.TB) S3Env {
	t.Helper()
	e := S3Env{
		Endpoint:  os.Getenv("SYNCD_TEST_S3_ENDPOINT"),
		AccessKey: os.Getenv("SYNCD_TEST_S3_ACCESS_KEY"),
		SecretKey: os.Getenv("SYNCD_TEST_S3_SECRET_KEY"),
	}
	if e.Endpoint == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("SYNCD_TEST_S3_ENDPOINT is not set: in CI scripts/test.sh must start MinIO (run the tests through scripts/test.sh)")
		}
		t.Skip("SYNCD_TEST_S3_ENDPOINT not set: run scripts/test.sh to start MinIO for the S3 tests")
	}
	return e
}
