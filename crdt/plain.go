package crdt

// PlainRun returns the index of the first byte of b at or after i that a
// JSON string does not hold as it is (a quote, a backslash, a control
// character) or that is not ASCII; len(b) if there is none. It reads
// eight bytes at a time: message text is mostly plain ASCII, and the
// string scans of push decoding and of fingerprinting spent their time
// stepping through it a byte at a time.
func PlainRun(b []byte, i int) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for ; i+8 <= len(b); i += 8 {
		w := b[i : i+8 : i+8]
		x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
			uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56 // one load
		q := x ^ (ones * '"')
		bs := x ^ (ones * '\\')
		// A byte with its top bit set, a byte below 0x20, a byte equal to
		// '"' or '\' (a zero byte of q or bs): the classic SWAR tests,
		// exact as to whether the word has one.
		if (x|(x-ones*0x20)&^x|(q-ones)&^q|(bs-ones)&^bs)&highs != 0 {
			break
		}
	}
	for i < len(b) && safeByte[b[i]] {
		i++
	}
	return i
}
