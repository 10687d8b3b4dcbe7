package watch

import "github.com/or3/syncd/engine"

// appendChange appends c as the JSON of engine.SyncChange, byte for byte
// what encoding/json writes with HTML escaping off. It is the engine's
// encoder (the one pull's JSON path uses): a few shallow frames where
// encoding/json's reflection would grow the stream goroutine's stack (see
// stack.go), and it runs once per change for every watcher of a catch-up.
func appendChange(dst []byte, c *engine.SyncChange) []byte { return engine.AppendChangeJSON(dst, c) }
