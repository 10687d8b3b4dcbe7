package engine

import "context"

// Authorize checks that user is a member of ws with a role allowing a read
// (write=false: owner, editor, viewer) or a write (owner, editor). It
// returns a *syncerr.Error (401 without a user, 403 otherwise) on refusal.
// The HTTP layer uses it for endpoints outside the engine (watch).
func (e *Engine) Authorize(ctx context.Context, ws, user string, write bool) error {
	_, err := e.authorize(ctx, ws, user, write)
	return err
}

// Now is the engine's clock.
func (e *Engine) Now() func() int64 { return func() int64 { return e.cfg.Now().UnixMilli() } }
