package identity

import (
	"errors"
	"fmt"

	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/syncerr"
)

// Sentinel errors. Every error a Store method returns for a request that
// must fail is a *syncerr.Error (status and api.md code for the HTTP layer)
// whose cause is one of these, so callers branch with errors.Is and the
// HTTP layer maps with syncerr.As. The human messages keep the substrings
// the OR3 contract tests match on ("Forbidden", "not a member", "last
// workspace owner", "User not found", ...).
var (
	// ErrInvalidArgument: a missing, malformed or oversized argument (400).
	ErrInvalidArgument = errors.New("identity: invalid argument")
	// ErrUnknownMethod: Call was given a method the auth store does not have (404).
	ErrUnknownMethod = errors.New("identity: unknown method")
	// ErrUserNotFound: the named user does not exist (404).
	ErrUserNotFound = errors.New("identity: user not found")
	// ErrWorkspaceNotFound: the workspace does not exist or is deleted (404).
	ErrWorkspaceNotFound = errors.New("identity: workspace not found")
	// ErrInviteNotFound: no such invite in that workspace (404).
	ErrInviteNotFound = errors.New("identity: invite not found")
	// ErrMemberNotFound: the user is not a member of the workspace (404).
	ErrMemberNotFound = errors.New("identity: member not found")
	// ErrForbidden: the acting user's role may not do this (403).
	ErrForbidden = errors.New("identity: forbidden")
	// ErrLastOwner: the change would leave a workspace without an owner (409).
	ErrLastOwner = errors.New("identity: last workspace owner")
	// ErrConflict: the write collides with existing state, e.g. an invite
	// token hash already used in the workspace (409).
	ErrConflict = errors.New("identity: conflict")
	// ErrCorruptState: a fold met state that the events that produced it
	// cannot have left (a missing user, a non-pending invite being
	// accepted). Replay stops on it rather than guess.
	ErrCorruptState = errors.New("identity: state does not match event")
)

// fail builds the *syncerr.Error for a sentinel.
func fail(cause error, ctor func(string, ...any) *syncerr.Error, format string, args ...any) error {
	e := ctor(format, args...)
	e.Err = cause
	return e
}

func invalid(format string, args ...any) error {
	return fail(ErrInvalidArgument, syncerr.Validation, format, args...)
}

func forbidden(format string, args ...any) error {
	return fail(ErrForbidden, syncerr.Forbidden, format, args...)
}

func errUserNotFound() error {
	return fail(ErrUserNotFound, syncerr.NotFound, "User not found")
}

func errWorkspaceNotFound() error {
	return fail(ErrWorkspaceNotFound, syncerr.NotFound, "Workspace not found")
}

func errInviteNotFound() error {
	return fail(ErrInviteNotFound, syncerr.NotFound, "Invite not found")
}

func errMemberNotFound() error {
	return fail(ErrMemberNotFound, syncerr.NotFound, "Member not found")
}

// storeErr turns an error of the log (a read, decode or commit failure)
// into the request failure it implies: 503 when the store is overloaded,
// recovering or closed (the client may retry), 500 otherwise. Errors that
// already are *syncerr.Error pass through.
func storeErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := syncerr.As(err); ok {
		return err
	}
	if errors.Is(err, synclog.ErrOverloaded) || errors.Is(err, synclog.ErrUnhealthy) || errors.Is(err, synclog.ErrClosed) {
		return syncerr.Unavailable(fmt.Errorf("identity: %s: %w", op, err), "identity store unavailable")
	}
	return syncerr.Internal(fmt.Errorf("identity: %s: %w", op, err), "identity store error")
}

// errNoView is returned while the log has no durable view (closed or
// recovering).
func errNoView() error {
	return syncerr.Unavailable(synclog.ErrUnhealthy, "identity store unavailable")
}
