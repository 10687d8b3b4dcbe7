// Package admin owns syncd's deployment administration (workspace-admin.md
// §5, api.md "RPC stores" and "Jobs, admin, operations"):
//
//   - the admin RPC stores: workspaceAccess (members, roles, the workspace
//     list, create, soft delete, restore, user search — built on the
//     identity store, never duplicating its rules), workspaceSettings, and
//     adminUsers (deployment admin grants, the bridge grant, the checker,
//     capabilities);
//   - the audit log: every admin mutation and every maintenance action is
//     an "audit.record" system event (who, what, when, before and after),
//     written in the same batch as the mutation it describes, indexed under
//     log.PrefixAudit;
//   - operations: status, the maintenance actions, the state digest,
//     state verification (model.md §4), and consistent online backup and
//     offline restore of a data directory.
//
// # Events and state
//
// Domains "admin" (grants: PrefixAdmin), "settings" (PrefixSettings) and
// "audit" (the index, PrefixAudit). Fold is registered for each on the
// daemon's log.FolderMux; replay rebuilds the three keyspaces byte for
// byte. Mutations are decided under the store's lock against state read
// through the batch; reads answer from the durable view.
//
// # Trust
//
// The service token is the authority (api.md "Trust model"). A call may
// name its acting admin with actorUserId: syncd then requires that user to
// exist ("Unauthorized: User not found") and to hold a grant ("Forbidden:
// Admin access required"). Without it the caller acts as the super admin
// (adminUsername names them in the audit, default "admin-key").
package admin
