// Package blobs is the storage gateway of side-modules §1 (api.md
// "Storage"): presign-upload, presign-download, commit, delete and gc,
// plus the transfers of the fs backend through syncd itself
// (PUT/GET /v1/blobs/{grant}).
//
// # Keys
//
// An object's key (its storageId) is built by syncd from the workspace
// and the content's SHA-256 only: "w" + 24 hex of SHA-256(workspace) /
// first two hex of the hash / the 64-hex hash. No client string becomes a
// path, one workspace's keys never name another's objects, and uploading
// the same bytes twice lands on the same object (dedupe).
//
// # Integrity
//
// The bytes are checked against the intent's SHA-256 before they become
// visible: the fs backend hashes while it streams (PUT /v1/blobs), and
// S3 presigned PUTs carry the signed x-amz-checksum-sha256 header so the
// object store refuses other bytes. Commit re-checks size, type and digest
// (hashing the object itself when the store keeps no digest); a mismatch
// is 409 and removes the stray object unless a live file_meta row uses it.
//
// # State
//
// file_meta rows are written only through the engine's server-authored
// sync write. The gateway's own state is the set of objects it stored
// (keyspace 0x52, events "blob.stored" / "blob.deleted", folded by Fold):
// GC walks it to find objects whose file_meta row is deleted, so GC never
// rescans collected history and never deletes an object it did not store.
// Every upload URL handed out is recorded too (keyspace 0x53, events
// "blob.pending" / "blob.swept"), so objects that no commit claimed are
// found and removed (sweep.go, "Abandoned uploads").
//
// # Order of effects (nothing half-committed)
//
// commit: verify object → write file_meta → record the blob → consume the
// intent. A failure after file_meta leaves the intent active, and a retry
// of the same commit completes it. delete: write the file_meta delete →
// delete the object → record it gone; a failure leaves a deleted row whose
// object GC (or a retried delete) removes. An object-store outage fails
// the call with 503 before any of it.
package blobs
