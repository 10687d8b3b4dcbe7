package jobs

import (
	"errors"
	"log/slog"
	"time"
)

// Defaults of side-modules §2.2 and the bounds syncd adds.
const (
	DefaultMaxPerUser      = 5
	DefaultMaxGlobal       = 20
	DefaultJobTimeout      = 5 * time.Minute
	DefaultRetention       = 5 * time.Minute
	DefaultMaxChunkBytes   = 64 << 10 // one contentChunk
	DefaultMaxContentBytes = 8 << 20  // a job's whole content (and finalContent)
	DefaultMaxJSONBytes    = 256 << 10
	DefaultMaxChunks       = 100_000
	DefaultMaxLease        = 24 * time.Hour
	DefaultCleanupBatch    = 500
	DefaultCleanupEvery    = 30 * time.Second
	maxIDLen               = 256
	maxSafeInt             = 1<<53 - 1
)

// Config configures a Store. Every field has a default filled in by
// validate.
type Config struct {
	// Now is syncd's clock: event times, last_activity_at, idle timeouts,
	// retention and the lease check of worker writes. Default time.Now.
	Now func() time.Time
	// Logger. Default slog.Default().
	Logger *slog.Logger
	// MaxPerUser and MaxGlobal bound the streaming jobs of one user and of
	// the region (model.md §6: admission caps count per home region).
	// Defaults 5 and 20.
	MaxPerUser int
	MaxGlobal  int
	// JobTimeout is the idle time after which cleanupExpired fails a
	// streaming job with "Job timed out". Default 5 min.
	JobTimeout time.Duration
	// Retention is how long a finished job is kept after completedAt.
	// Default 5 min.
	Retention time.Duration
	// MaxChunkBytes caps one contentChunk (413 above it). Default 64 KiB.
	MaxChunkBytes int
	// MaxContentBytes caps a job's content and finalContent. Default 8 MiB.
	MaxContentBytes int
	// MaxChunks caps the content chunks of one job (413 above it), so the
	// batch that compacts them when the job finishes stays bounded.
	// Default 100,000.
	MaxChunks int
	// MaxJSONBytes caps tool_calls, workflow_state and execution. Default
	// 256 KiB each.
	MaxJSONBytes int
	// MaxLease caps leaseExpiresAt - now. Default 24 h.
	MaxLease time.Duration
	// CleanupEvery is how often Start's janitor runs CleanupExpired.
	// Default 30 s.
	CleanupEvery time.Duration
	// CleanupBatch bounds the jobs one cleanupExpired call changes.
	// Default 500.
	CleanupBatch int
}

func (c *Config) validate() error {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxPerUser == 0 {
		c.MaxPerUser = DefaultMaxPerUser
	}
	if c.MaxGlobal == 0 {
		c.MaxGlobal = DefaultMaxGlobal
	}
	if c.MaxPerUser < 0 || c.MaxGlobal < 0 {
		return errors.New("jobs: Config.MaxPerUser and MaxGlobal must be positive")
	}
	orDefault(&c.JobTimeout, DefaultJobTimeout)
	orDefault(&c.Retention, DefaultRetention)
	orDefault(&c.MaxChunkBytes, DefaultMaxChunkBytes)
	orDefault(&c.MaxContentBytes, DefaultMaxContentBytes)
	orDefault(&c.MaxChunks, DefaultMaxChunks)
	orDefault(&c.MaxJSONBytes, DefaultMaxJSONBytes)
	orDefault(&c.MaxLease, DefaultMaxLease)
	orDefault(&c.CleanupEvery, DefaultCleanupEvery)
	orDefault(&c.CleanupBatch, DefaultCleanupBatch)
	return nil
}

// orDefault sets *v to def when it is zero or negative.
func orDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}
