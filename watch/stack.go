package watch

// offStack runs f on a short-lived goroutine and waits for it, re-raising
// its panic on the caller's goroutine (where net/http recovers it).
//
// The stream's request goroutine lives as long as the client stays, idle
// nearly all the time. The engine's read path (Pull's Pebble iterators, the
// role lookup behind Authorize) is deep; run on the request goroutine it
// would grow that stack to 16–32 KiB, and the runtime only shrinks a stack
// by halves at later collections, leaving the freed stack memory in the
// process's RSS. At 10,000 idle watchers that was about 6 KiB per watcher
// (BenchmarkIdleWatchers: 34 KiB RSS each before, 29 KiB after). A
// goroutine that exits returns its stack to the runtime's cache at once,
// for the next one to reuse.
func offStack(f func()) {
	var p any
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() { p = recover() }()
		f()
	}()
	<-done
	if p != nil {
		panic(p)
	}
}
