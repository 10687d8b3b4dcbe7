//go:build !linux

package bench

import "net"

// reactor is Linux's epoll reader (watch_linux.go); elsewhere a goroutine
// reads each stream.
type reactor struct{}

func startEpollReader(*watcher, net.Conn) bool { return false }

func (*reactor) remove(*watcher) {}
