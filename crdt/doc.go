// Package crdt owns syncd's merge rules: the revision order, the per-key
// row register, and the canonical JSON that op fingerprints are built from.
//
// Everything here is a pure function of its arguments. The package does no
// IO, reads no clock, starts no goroutines, uses no randomness and imports
// only the standard library, so the engine can fold events through it during
// live pushes, replication and replay and always get the same bytes.
//
// # The register
//
// Each synced entity (workspace, table, pk) is one last-writer-wins register
// over the whole row plus its deleted flag (model.md §5), ordered by Revision
// (clock, hlc, opId, fingerprint). Its state is the pair (greatest put,
// greatest delete) — Entity.Put and Entity.Tomb — and the winner is the
// greater of the two, the delete winning an exact tie. Both halves only move
// up a total order, so Merge is a join: commutative, associative, idempotent.
//
// # Equivalence with the row-and-tombstone tables
//
// sync-contract §4.2–4.4 state the rules over a materialized row R and a
// tombstone T:
//
//	put p:    R exists            → apply iff p > R.rev
//	          no R, T exists      → apply iff p > T
//	          no R, no T          → insert
//	delete d: R exists            → apply iff d > R.rev
//	          no R                → no row write; applied iff T moves (canonical)
//	          then, in every case → T := d iff T is absent or d > T
//
// Claim: the revision each rule compares against is always M = max(R.rev, T)
// (over whichever exist), M is the greatest revision of every op merged so far
// — Entity.Winner — and so "applied" is exactly op.Rev.Beats(Winner).
//
// Invariant: whenever R and T both exist, T ≤ R.rev. R is created only by a
// put that beats T (or when there is no T), so it starts above T. After that
// R.rev only rises. T rises only through a delete d: if d > R.rev the delete
// is applied and R.rev = d = T; otherwise T ≤ d ≤ R.rev. So when R exists
// M = R.rev, and when it does not M = T: the table compares against M in
// every row.
//
// M is the running maximum: an applied op has a revision above M and becomes
// the new M (a put writes R.rev; a delete writes R.rev or, with no row, T).
// An op that is not applied is ≤ M and leaves M alone: a losing put writes
// nothing, and a losing delete can raise T only up to d ≤ M. By induction
// M = Winner after every op, so spec-applied ⇔ op.Rev.Beats(Winner) ⇔
// Outcome.Applied, and the spec row is deleted exactly when the op holding
// the winner is a delete or a put whose payload says deleted:true, which is
// Entity.Deleted. T is Entity.Tomb, by the same upsert rule. A put at or
// below T can never be applied, because Winner ≥ T: no resurrection
// (§4.5). TestEntity_MatchesSpecTables checks all of this against a literal
// transcription of the tables on random op streams.
//
// Two deliberate differences, both invisible on the wire:
//
//   - While a delete wins, the spec's soft-deleted row keeps the payload of
//     the last put that was applied, which depends on arrival order (put@1,
//     delete@5, put@3 leaves put@1's payload; put@1, put@3, delete@5 leaves
//     put@3's). Entity.Put is the greatest put ever merged, the same in every
//     order. Live rows are identical: a winning put is the greatest put.
//     Snapshots emit deleted keys as tombstones without payload, and pull
//     returns op payloads, not rows.
//   - The spec's revision has three fields; syncd adds the op fingerprint as a
//     fourth so that two regions that accepted different ops under one opId
//     still agree. Exact ties between different ops are then possible only
//     for fingerprint-less legacy revisions; a delete wins such a tie against
//     a put (the snapshot rule, §3.7 rule 5), and two tied puts are ordered
//     soft-deleted first, then by payload bytes, so the order stays total.
//
// # Canonical JSON and fingerprints
//
// CanonicalJSON gives every JSON value one byte form, and OpFingerprint hashes
// the canonical form of an op's identity-relevant fields. Push uses the
// fingerprint to tell a replay (same opId, same fingerprint) from a conflict
// (same opId, different fingerprint), and the register uses it as the last
// tie-break.
package crdt
