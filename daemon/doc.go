// Package daemon wires syncd together: it is the one package (beside
// cmd/syncd) that sees every module. New opens the log and builds each
// module on it, in dependency order, explicitly and linearly, in the style
// of rqlite's cmd/rqlited/main.go: no framework, each step commented.
//
// cmd/syncd reads flags, env and the config file, manages the data
// directory's secrets and signals, and hands a finished Config to New.
// Tests (api, crash tests) start the same Daemon in-process on
// 127.0.0.1:0 with a temporary data directory.
package daemon
