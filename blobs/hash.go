package blobs

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// NormalizeHash strips a "sha256:" prefix (any case), trims and
// lowercases (side-modules §1.2). ok reports whether the result is a
// SHA-256 digest (64 hex).
func NormalizeHash(h string) (norm string, ok bool) {
	s := strings.TrimSpace(h)
	if len(s) >= 7 && strings.EqualFold(s[:7], "sha256:") {
		s = strings.TrimSpace(s[7:])
	}
	s = strings.ToLower(s)
	if len(s) != 64 {
		return s, false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return s, false
		}
	}
	return s, true
}

// NormalizeMime is the part before the first ';', trimmed and lowercased.
func NormalizeMime(m string) string {
	if i := strings.IndexByte(m, ';'); i >= 0 {
		m = m[:i]
	}
	return strings.ToLower(strings.TrimSpace(m))
}

// StorageKey is the object key of the content with normalized hash in ws.
func StorageKey(ws, hash string) string {
	w := sha256.Sum256([]byte(ws))
	return fmt.Sprintf("w%x/%s/%s", w[:12], hash[:2], hash)
}

func digestOf(hash string) []byte {
	d, _ := hex.DecodeString(hash)
	return d
}
