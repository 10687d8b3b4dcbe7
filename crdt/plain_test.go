package crdt

import (
	"math/rand/v2"
	"testing"
)

// plainRunBytewise is PlainRun a byte at a time.
func plainRunBytewise(b []byte, i int) int {
	for i < len(b) && safeByte[b[i]] {
		i++
	}
	return i
}

func TestPlainRun_AsByteLoop(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	special := []byte{'"', '\\', 0, 0x1f, 0x20, 0x7e, 0x7f, 0x80, 0xc3, 0xff, '!', '#', '[', ']'}
	for range 200000 {
		b := make([]byte, r.IntN(40))
		for k := range b {
			b[k] = byte(0x20 + r.IntN(0x5f))
		}
		for range r.IntN(3) {
			if len(b) > 0 {
				b[r.IntN(len(b))] = special[r.IntN(len(special))]
			}
		}
		i := 0
		if len(b) > 0 {
			i = r.IntN(len(b) + 1)
		}
		if got, want := PlainRun(b, i), plainRunBytewise(b, i); got != want {
			t.Fatalf("PlainRun(%q, %d) = %d, want %d", b, i, got, want)
		}
	}
	for c := range 256 {
		for pos := range 16 {
			b := []byte("abcdefghijklmnopqrstuvwx")
			b[pos] = byte(c)
			if got, want := PlainRun(b, 0), plainRunBytewise(b, 0); got != want {
				t.Fatalf("byte %#x at %d: PlainRun %d, want %d", c, pos, got, want)
			}
		}
	}
}

func FuzzPlainRun(f *testing.F) {
	f.Add([]byte(`plain text with a "quote" and \ backslash`), 0)
	f.Add([]byte("caf\xc3\xa9 \x01"), 2)
	f.Fuzz(func(t *testing.T, b []byte, i int) {
		if i < 0 || i > len(b) {
			return
		}
		if got, want := PlainRun(b, i), plainRunBytewise(b, i); got != want {
			t.Fatalf("PlainRun(%q, %d) = %d, want %d", b, i, got, want)
		}
	})
}

func BenchmarkPlainRun(b *testing.B) {
	text := make([]byte, 1400)
	for i := range text {
		text[i] = "the of and to in is you that "[i%29]
	}
	text[len(text)-1] = '"'
	b.Run("swar", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		for b.Loop() {
			if PlainRun(text, 0) != len(text)-1 {
				b.Fatal("wrong")
			}
		}
	})
	b.Run("bytewise", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		for b.Loop() {
			if plainRunBytewise(text, 0) != len(text)-1 {
				b.Fatal("wrong")
			}
		}
	})
}
