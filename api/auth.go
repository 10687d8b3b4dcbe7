package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

func hashToken(t string) [32]byte { return sha256.Sum256([]byte(t)) }

// authorized checks "Authorization: Bearer <service token>" in constant
// time. Both sides are hashed first, so neither the comparison's duration
// nor an early length mismatch tells an attacker the token's length.
func (s *Server) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		// Still compare, so a missing header costs what a wrong one does.
		tok = ""
		ok = false
	}
	got := hashToken(strings.TrimSpace(tok))
	match := subtle.ConstantTimeCompare(got[:], s.tokenHash[:]) == 1
	return ok && match
}
