package watch

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/or3/syncd/engine"
)

// Defaults of Config.
const (
	DefaultHeartbeat        = 15 * time.Second
	DefaultBufferPerWatcher = 256
	DefaultCatchUpPage      = 1000
	DefaultWriteTimeout     = 10 * time.Second
)

// Config configures a Hub. Zero fields take the defaults named on them.
type Config struct {
	// Heartbeat is the interval of the keep-alive comment (SSE) or ping
	// (WebSocket), and of the re-check of the watcher's membership, so a
	// member removed from the workspace stops receiving its changes within
	// one Heartbeat. Each interval is shortened by up to a tenth at random,
	// so streams opened together do not beat together. Default 15s (api.md:
	// "a comment line every 15 s").
	Heartbeat time.Duration

	// BufferPerWatcher bounds the live changes queued for one watcher and
	// not yet written to it. A watcher whose queue would pass the bound
	// drops the queue and catches up from the log instead (see the package
	// doc), so the bound caps memory per watcher and never slows a push.
	// Default 256: more than one push's 100 ops, so a reader that keeps up
	// never leaves memory. Must be at least 1.
	BufferPerWatcher int

	// CatchUpPage is the Pull limit used to replay the log after the
	// cursor, 1..engine.MaxPullLimit. Default 1000.
	CatchUpPage int

	// WriteTimeout bounds one write to a client (a batch of changes, a
	// heartbeat, a ping's pong). A client that does not read for this long
	// is disconnected: this is what cuts off a stalled watcher. It replaces
	// any http.Server WriteTimeout for the stream. Default 10s.
	WriteTimeout time.Duration

	// OriginPatterns are the cross-origin hosts allowed to open a
	// WebSocket (websocket.AcceptOptions.OriginPatterns). The request's own
	// host is always allowed; requests without an Origin header (server to
	// server, as the trusted host makes them) are too.
	OriginPatterns []string

	// WriteError answers a request refused before its stream opens (bad
	// workspace or cursor, 401, 403, 503). Default: the status and body of
	// api.md "Errors", from the *syncerr.Error in err. The HTTP layer may
	// pass its own mapper so every endpoint answers the same way.
	WriteError func(w http.ResponseWriter, r *http.Request, err error)

	// Logger. Default slog.Default().
	Logger *slog.Logger
}

// validate fills defaults and names the first bad field.
func (c *Config) validate() error {
	if c.Heartbeat == 0 {
		c.Heartbeat = DefaultHeartbeat
	}
	if c.BufferPerWatcher == 0 {
		c.BufferPerWatcher = DefaultBufferPerWatcher
	}
	if c.CatchUpPage == 0 {
		c.CatchUpPage = DefaultCatchUpPage
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.WriteError == nil {
		c.WriteError = writeError(c.Logger)
	}
	switch {
	case c.Heartbeat < 0:
		return fmt.Errorf("watch: Config.Heartbeat = %s, want > 0", c.Heartbeat)
	case c.BufferPerWatcher < 1:
		return fmt.Errorf("watch: Config.BufferPerWatcher = %d, want ≥ 1", c.BufferPerWatcher)
	case c.CatchUpPage < 1 || c.CatchUpPage > engine.MaxPullLimit:
		return fmt.Errorf("watch: Config.CatchUpPage = %d, want 1..%d", c.CatchUpPage, engine.MaxPullLimit)
	case c.WriteTimeout < 0:
		return fmt.Errorf("watch: Config.WriteTimeout = %s, want > 0", c.WriteTimeout)
	}
	return nil
}

// errClosed refuses streams once the hub is closed.
var errClosed = errors.New("watch: hub closed")
