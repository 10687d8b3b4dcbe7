package fs

// SetWriteback turns the early writeback of large Puts on or off.
func SetWriteback(s *Store, on bool) { s.noWriteback = !on }
