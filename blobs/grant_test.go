package blobs

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"strings"
	"testing"
)

var testKey = bytes.Repeat([]byte{7}, 32)

func TestGrant_RoundTrip(t *testing.T) {
	g := Grant{Op: OpPut, ExpiresAtMs: 2000, Size: 123, Key: StorageKey("ws", strings.Repeat("a", 64)), ContentType: "image/png", Disposition: "inline"}
	g.SHA256[0] = 9
	tok, err := EncodeGrant(testKey, g)
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) > MaxTokenLen {
		t.Fatalf("token of %d chars exceeds MaxTokenLen %d", len(tok), MaxTokenLen)
	}
	got, err := DecodeGrant(testKey, tok, OpPut, 1999)
	if err != nil || got != g {
		t.Fatalf("DecodeGrant = %+v, %v; want %+v", got, err, g)
	}
	t.Run("Expired", func(t *testing.T) {
		if _, err := DecodeGrant(testKey, tok, OpPut, 2000); !errors.Is(err, ErrExpiredGrant) {
			t.Fatalf("at expiry: %v, want ErrExpiredGrant", err)
		}
	})
	t.Run("OtherOp", func(t *testing.T) {
		if _, err := DecodeGrant(testKey, tok, OpGet, 0); !errors.Is(err, ErrBadGrant) {
			t.Fatalf("PUT grant used for GET: %v", err)
		}
	})
	t.Run("OtherKey", func(t *testing.T) {
		if _, err := DecodeGrant(bytes.Repeat([]byte{8}, 32), tok, OpPut, 0); !errors.Is(err, ErrBadGrant) {
			t.Fatalf("grant under another key: %v", err)
		}
	})
	t.Run("EveryBitFlipIsRefused", func(t *testing.T) {
		raw, _ := base64.RawURLEncoding.DecodeString(tok)
		for i := range raw {
			for bit := 0; bit < 8; bit++ {
				b := append([]byte(nil), raw...)
				b[i] ^= 1 << bit
				if _, err := DecodeGrant(testKey, base64.RawURLEncoding.EncodeToString(b), OpPut, 0); err == nil {
					t.Fatalf("flipping bit %d of byte %d still decodes", bit, i)
				}
			}
		}
	})
	t.Run("Truncated", func(t *testing.T) {
		for n := 0; n < len(tok); n++ {
			if _, err := DecodeGrant(testKey, tok[:n], OpPut, 0); err == nil {
				t.Fatalf("prefix of %d chars decodes", n)
			}
		}
	})
}

// FuzzDecodeGrant: no token panics the decoder, and whatever decodes
// re-encodes to the same token (only grants syncd signed can decode).
func FuzzDecodeGrant(f *testing.F) {
	g := Grant{Op: OpGet, ExpiresAtMs: 1 << 40, Size: 10, Key: "w00/aa/bb", ContentType: "text/plain"}
	tok, _ := EncodeGrant(testKey, g)
	f.Add(tok)
	f.Add("")
	f.Add("AAAA")
	f.Add(strings.Repeat("A", MaxTokenLen+1))
	f.Add(tok[:len(tok)-1] + "B")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := DecodeGrant(testKey, s, OpGet, 0)
		if err != nil {
			return
		}
		again, err := EncodeGrant(testKey, got)
		if err != nil || again != s {
			t.Fatalf("decoded %+v from %q but it re-encodes to %q (%v)", got, s, again, err)
		}
	})
}

func TestLoadGrantKey_CreatesOnceWith0600(t *testing.T) {
	dir := t.TempDir()
	k1, err := LoadGrantKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := LoadGrantKey(dir)
	if err != nil || !bytes.Equal(k1, k2) || len(k1) != 32 {
		t.Fatalf("second load: %x vs %x, %v", k1, k2, err)
	}
	st, err := osStat(dir + "/blob-grant.key")
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v", st.Mode().Perm(), err)
	}
}

func TestParseRange(t *testing.T) {
	const size = 100
	cases := []struct {
		h           string
		off, n      int64
		partial, ok bool
	}{
		{"", 0, size, false, true},
		{"bytes=0-9", 0, 10, true, true},
		{"bytes=90-", 90, 10, true, true},
		{"bytes=-5", 95, 5, true, true},
		{"bytes=-500", 0, size, true, true},
		{"bytes=50-500", 50, 50, true, true},
		{"bytes=100-", 0, 0, false, false},
		{"bytes=-0", 0, 0, false, false},
		{"bytes=5-1", 0, size, false, true},
		{"bytes=0-1,5-6", 0, size, false, true},
		{"items=0-1", 0, size, false, true},
		{"bytes=x-1", 0, size, false, true},
	}
	for _, c := range cases {
		off, n, partial, ok := parseRange(c.h, size)
		if off != c.off || n != c.n || partial != c.partial || ok != c.ok {
			t.Errorf("parseRange(%q) = %d,%d,%v,%v; want %d,%d,%v,%v", c.h, off, n, partial, ok, c.off, c.n, c.partial, c.ok)
		}
	}
}

func TestNormalizeHash(t *testing.T) {
	h := strings.Repeat("ab", 32)
	for _, in := range []string{h, "sha256:" + h, "SHA256:" + strings.ToUpper(h), "  sha256:" + h + " "} {
		if got, ok := NormalizeHash(in); !ok || got != h {
			t.Errorf("NormalizeHash(%q) = %q,%v", in, got, ok)
		}
	}
	for _, in := range []string{"", "xyz", "md5:" + h, h[:63], h + "0", strings.Repeat("g", 64)} {
		if _, ok := NormalizeHash(in); ok {
			t.Errorf("NormalizeHash(%q) accepted", in)
		}
	}
}

func TestStorageKey_IsValidAndPerWorkspace(t *testing.T) {
	h := strings.Repeat("0f", 32)
	a, b := StorageKey("ws-1", h), StorageKey("ws-2", h)
	if a == b || !strings.HasSuffix(a, "/0f/"+h) {
		t.Fatalf("keys %q %q", a, b)
	}
	if _, err := DecodeGrant(testKey, "", OpGet, 0); err == nil {
		t.Fatal("empty token decodes")
	}
}

func TestFileHashes(t *testing.T) {
	h := "sha256:" + strings.Repeat("a", 64)
	ok := map[string]int{
		`{}`: 0, `{"file_hashes":null}`: 0, `{"file_hashes":"null"}`: 0, `{"file_hashes":""}`: 0,
		`{"file_hashes":"[\"` + h + `\"]"}`: 1, `{"file_hashes":["` + h + `","x"]}`: 2,
	}
	for p, n := range ok {
		got, err := fileHashes([]byte(p))
		if err != nil || len(got) != n {
			t.Errorf("fileHashes(%s) = %v, %v; want %d", p, got, err, n)
		}
	}
	for _, p := range []string{`{"file_hashes":"not json"}`, `{"file_hashes":5}`, `{"file_hashes":"[1,2]"}`, `{"file_hashes":{"a":1}}`} {
		if _, err := fileHashes([]byte(p)); !errors.Is(err, errUnprovable) {
			t.Errorf("fileHashes(%s) = %v, want errUnprovable", p, err)
		}
	}
}

var osStat = os.Stat

// TestDecodeGrant_OneTokenPerGrant: a signed grant has exactly one token.
// Go's base64 skips CR and LF, and a non-strict decoder ignores the last
// character's unused bits; either would make another string decode to the
// same grant (FuzzDecodeGrant found the line break).
func TestDecodeGrant_OneTokenPerGrant(t *testing.T) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	padded := 0
	for _, ct := range []string{"a/b", "a/bc", "a/bcd"} {
		g := Grant{Op: OpGet, ExpiresAtMs: 1 << 40, Size: 10, Key: "w00/aa/bb", ContentType: ct}
		tok, err := EncodeGrant(testKey, g)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeGrant(testKey, tok, OpGet, 0); err != nil {
			t.Fatalf("its own token: %v", err)
		}
		for _, other := range []string{tok[:5] + "\n" + tok[5:], tok[:5] + "\r\n" + tok[5:], tok + "\n"} {
			if _, err := DecodeGrant(testKey, other, OpGet, 0); err == nil {
				t.Fatalf("%q decoded as well as %q", other, tok)
			}
		}
		if len(tok)%4 == 0 {
			continue // no unused bits in the last character
		}
		padded++
		last := strings.IndexByte(alphabet, tok[len(tok)-1])
		other := tok[:len(tok)-1] + string(alphabet[last^1]) // only an unused bit differs
		if _, err := DecodeGrant(testKey, other, OpGet, 0); err == nil {
			t.Fatalf("%q decoded as well as %q", other, tok)
		}
	}
	if padded == 0 {
		t.Fatal("no token with unused bits was tried")
	}
}
