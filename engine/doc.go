// Package engine is syncd's sync engine: push, pull, device cursors,
// server-authored writes and the post-commit subscription that watch,
// webhooks and replication consume. It folds every sync op through the
// crdt register and writes the op's log entry and the state it implies in
// one batch through the log's committer.
//
// Rules come from ../shared/spec/sync-contract.md §2–4 and §7, with the
// overrides and decisions of ../shared/spec/api.md; the data model from
// ../shared/spec/model.md. Where this package decides something the specs
// left open, the decision is written next to the code.
//
// Concurrency: one writer per workspace (a per-workspace lock held from
// validation through the durable commit), many workspaces committing
// together through the log's group commit. Reads (pull, snapshot) use the
// log's durable view only.
package engine
