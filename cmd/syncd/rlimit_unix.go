//go:build unix

package main

import (
	"log/slog"
	"syscall"
)

// raiseOpenFiles raises RLIMIT_NOFILE's soft limit to the hard limit: every
// watch stream holds a socket. (The Go runtime does this too since 1.19;
// doing it here makes it explicit and logged.)
func raiseOpenFiles(log *slog.Logger) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		log.Warn("could not read RLIMIT_NOFILE", "err", err)
		return
	}
	before := lim.Cur
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			log.Warn("could not raise RLIMIT_NOFILE", "soft", before, "hard", lim.Max, "err", err)
			return
		}
	}
	log.Info("open file limit", "soft", lim.Cur, "hard", lim.Max, "was", before)
	// One descriptor per connection (watchers included) plus up to 1,000
	// sstables Pebble keeps open and a little more.
	if lim.Cur < minOpenFiles {
		log.Warn("open file limit is low: each connection and watcher holds a descriptor; raise the hard limit (ulimit -Hn, systemd LimitNOFILE=)",
			"soft", lim.Cur, "connections", max(int64(lim.Cur)-int64(pebbleFiles), 0), "recommended", minOpenFiles)
	}
}

// minOpenFiles is the open-file limit below which syncd warns at start:
// room for about 10,000 connections beside Pebble's files.
const (
	minOpenFiles = 11_100
	pebbleFiles  = 1_100
)
