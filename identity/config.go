package identity

import (
	"errors"
	"log/slog"
	"time"
)

// DefaultWorkspaceName is the name of the workspace GetOrCreateDefaultWorkspace
// creates when Config.DefaultWorkspaceName is empty (the Convex provider's
// name; SQLite's was "My Workspace").
const DefaultWorkspaceName = "Personal Workspace"

// minSecretLen is the shortest cluster secret New accepts. User ids are an
// HMAC under this secret, so a short one would let anyone who knows a
// provider subject predict its user id.
const minSecretLen = 16

// Config configures a Store. Every field but Secret has a default, filled in
// by validate.
type Config struct {
	// Secret is the cluster secret user ids are derived from
	// (HMAC-SHA256(Secret, provider ‖ 0x00 ‖ providerUserId), model.md §6).
	// Every region of a cluster must use the same secret, or the same
	// subject gets different ids in different regions. Changing it changes
	// every id a new login resolves to, so it is fixed for the life of the
	// data. At least 16 bytes; 32 random bytes is the intended size.
	Secret []byte
	// Now is the clock. It stamps events (SystemEvent.AtMs), which is the
	// only time folds ever see, and decides invite expiry. Default time.Now.
	Now func() time.Time
	// Logger receives the store's logs. Default slog.Default().
	Logger *slog.Logger
	// Region names this region. Workspaces record it as their home region,
	// the region that decides their members, roles and invites
	// (model.md §6). Default "local".
	Region string
	// DefaultWorkspaceName names the workspace created on a user's first
	// GetOrCreateDefaultWorkspace (workspace-admin §3.3: "the default name
	// should be configurable"). Default DefaultWorkspaceName.
	DefaultWorkspaceName string
}

func (c *Config) validate() error {
	if len(c.Secret) < minSecretLen {
		return errors.New("identity: Config.Secret must be at least 16 bytes")
	}
	c.Secret = append([]byte(nil), c.Secret...) // the caller may reuse its slice
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Region == "" {
		c.Region = "local"
	}
	if c.DefaultWorkspaceName == "" {
		c.DefaultWorkspaceName = DefaultWorkspaceName
	}
	if err := checkWorkspaceName(c.DefaultWorkspaceName); err != nil {
		return errors.New("identity: Config.DefaultWorkspaceName: " + err.Error())
	}
	return nil
}
