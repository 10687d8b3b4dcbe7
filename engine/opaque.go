package engine

import (
	"encoding/base64"
	"errors"
)

var errNotBase64URL = errors.New("engine: not base64url")

// decodeOpaque decodes an opaque token or cursor: unpadded base64url and
// nothing else. encoding/base64 skips \r and \n even in strict mode, so a
// token with line breaks would decode to the same bytes as another token;
// they are refused first, so each token has exactly one spelling.
func decodeOpaque(s string) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return nil, errNotBase64URL
		}
	}
	return base64.RawURLEncoding.Strict().DecodeString(s)
}
