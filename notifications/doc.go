// Package notifications is syncd's notification store (side-modules §4,
// api.md RPC store "notifications"): create, emitBackgroundJobComplete and
// emitBackgroundJobError write a notifications row as a server-authored
// sync op through engine.ServerWrite. The row is owned by its recipient, so
// pull, watch and snapshot show it to that user only; the engine gives the
// op a revision that later client edits still beat (clock = the row's
// winning clock + 1, not epoch seconds).
//
// The recipient must be a member of the workspace (the spec leaves that
// check to the caller; syncd makes it a second line of defence). The job
// emitters derive the notification id from (workspace, user, job, type), so
// a retried emit rewrites the same row instead of notifying twice
// (side-modules §9 item 11), and they store job_id in the row.
package notifications
