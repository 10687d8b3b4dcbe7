//go:build !linux

package watch

// hangups: elsewhere a parked stream's hung-up client is noticed at its
// next heartbeat (a non-blocking read) or by a failed write.
type hangups struct{}

func (*hangups) watch(*Hub, *stream) {}

func (*hangups) forget(*stream) {}
