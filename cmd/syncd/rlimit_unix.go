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
}
