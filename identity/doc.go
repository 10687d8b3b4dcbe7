// Package identity owns users, auth accounts, workspaces, memberships and
// invites: the "auth" RPC store of api.md (workspace-admin.md §1–§4), kept
// as system events on the log.
//
// # Events and state
//
// Every mutation is one or more system events ("user.*", "account.*",
// "ws.*", "member.*", "invite.*") appended to a log batch, followed by
// Fold of each event into the same batch, then one synced commit. Replay
// (log.Rebuild with Fold registered for Domains on a log.FolderMux) folds
// the same events in the same order and rebuilds the identity keyspaces
// byte for byte: Fold reads only identity state, takes its only clock from
// the event (SystemEvent.AtMs) and its only tie-breaker from the system
// sequence. records.go describes the keys and records.
//
// # Decisions and reads
//
// Conditional writes — create a user or a default workspace once, accept
// an invite once, never remove or demote the last owner, role checks — are
// decided by the Store method under one write lock, against current state
// read through the batch, and the lock is held until the batch is durable.
// So two racing calls never both win. Answers to reads (Role, GetUser,
// ListInvites, ...) come only from the log's durable view, never from
// state that is not yet fsynced (model.md §3).
//
// # Trust
//
// syncd trusts its host (api.md "Trust model"): the host authenticates end
// users, checks identity-provider claims such as a verified invite email,
// and names the acting user in arguments (invitedByUserId, revokedByUserId,
// the userId of workspace updates). syncd checks that acting user's role and
// every invariant of the spec, answering with *syncerr.Error values whose
// causes are this package's sentinel errors.
//
// # Ids
//
// A user id is DeriveUserID(secret, provider, subject): an HMAC, so every
// region derives the same id for one subject and the id does not reveal
// the subject (model.md §6). Workspace ids are random UUIDs; invite ids are
// UUIDv7 of their creation time. Invite tokens are never stored: the host
// sends a token hash (or syncd generates a token and returns it once), and
// syncd keeps only SHA-256 of that hash.
package identity
