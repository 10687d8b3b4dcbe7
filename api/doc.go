// Package api is syncd's HTTP surface (../shared/spec/api.md): routing,
// bearer-token authentication, strict JSON decoding, and the mapping of
// module errors (*syncerr.Error) to HTTP statuses and bodies. It holds no
// business rules: every decision about a request's content belongs to the
// module the request reaches (engine, identity, watch, …).
//
// The package declares the interfaces it consumes (Sync, RPCStore, Watch)
// and never imports the log or a module's internals; the daemon wires the
// concrete modules in.
//
// Decisions this layer makes (documented at the code that makes them):
//
//   - Every answer under /v1/ carries Cache-Control: no-store.
//   - POST bodies must say Content-Type: application/json (or a +json
//     type); anything else, including no Content-Type, is 415
//     VALIDATION_ERROR.
//   - Bodies are at most 3 MiB (413 OVERSIZED, answered from Content-Length
//     before the body is read when the client declares it), valid JSON in
//     valid UTF-8, nested at most 64 deep, with every number finite as a
//     float64.
//   - JSON object keys match exactly (not case-insensitively, unlike
//     encoding/json's struct decoding); unknown keys are ignored.
//   - Integers (clock, cursor, version, limit) must be integral JSON
//     numbers within ±(2^53−1); 1.5, "1", true and null (for a required
//     field) are 400 VALIDATION_ERROR naming the field.
//   - A wrong method on a known path is 405 with an Allow header and code
//     VALIDATION_ERROR; an unknown path is 404 NOT_FOUND (401 first under
//     /v1/ without a valid token).
//   - RPC failures, including 401 and 404 on /v1/rpc/ paths, use the RPC
//     envelope {"ok":false,"error":{"status","code","message"}}; every other
//     failure uses {"error":{"code","message","status"}}.
package api
