package blobs

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/or3/syncd/storage"
)

// A grant is the capability in a /v1/blobs/{token} URL: one operation on
// one object until it expires, signed with HMAC-SHA256 under the data
// dir's grant key. The token is base64url(body | mac); body is
//
//	version(1) | op(1) | expiresAtMs(8) | size(8) | sha256(32) |
//	keyLen(1) key | typeLen(1) contentType | dispLen(1) disposition
//
// The MAC is checked (in constant time) before any field is parsed.

// Grant operations.
const (
	OpPut byte = 'P'
	OpGet byte = 'G'
)

const (
	grantVersion  = 1
	grantFixed    = 1 + 1 + 8 + 8 + 32
	macLen        = sha256.Size
	maxGrantField = 255
	// MaxTokenLen bounds a token before it is decoded.
	MaxTokenLen = 4 * (grantFixed + 3*(1+maxGrantField) + macLen + 2) / 3
)

// ErrBadGrant is a token that is malformed, forged or for another
// operation; ErrExpiredGrant one whose time is up. Both answer 403.
var (
	ErrBadGrant     = errors.New("blobs: invalid grant")
	ErrExpiredGrant = errors.New("blobs: grant expired")
)

// Grant is the decoded content of a token.
type Grant struct {
	Op          byte
	ExpiresAtMs int64
	Size        int64
	SHA256      [32]byte
	Key         string
	ContentType string
	Disposition string
}

// EncodeGrant signs g with key.
func EncodeGrant(key []byte, g Grant) (string, error) {
	if len(g.Key) > maxGrantField || len(g.ContentType) > maxGrantField || len(g.Disposition) > maxGrantField {
		return "", fmt.Errorf("%w: field longer than %d bytes", ErrBadGrant, maxGrantField)
	}
	b := make([]byte, 0, grantFixed+3+len(g.Key)+len(g.ContentType)+len(g.Disposition)+macLen)
	b = append(b, grantVersion, g.Op)
	b = binary.BigEndian.AppendUint64(b, uint64(g.ExpiresAtMs))
	b = binary.BigEndian.AppendUint64(b, uint64(g.Size))
	b = append(b, g.SHA256[:]...)
	for _, s := range []string{g.Key, g.ContentType, g.Disposition} {
		b = append(b, byte(len(s)))
		b = append(b, s...)
	}
	m := hmac.New(sha256.New, key)
	m.Write(b)
	b = m.Sum(b)
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// DecodeGrant verifies token with key and returns its grant if it is for
// op and not expired at nowMs.
func DecodeGrant(key []byte, token string, op byte, nowMs int64) (Grant, error) {
	var g Grant
	// One token per grant: Go's base64 skips CR and LF anywhere, and a
	// non-strict decoder ignores the last character's unused bits, so
	// either would let other strings decode to the same signed grant.
	if len(token) == 0 || len(token) > MaxTokenLen || strings.ContainsAny(token, "\r\n") {
		return g, ErrBadGrant
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(raw) < grantFixed+3+macLen {
		return g, ErrBadGrant
	}
	body, mac := raw[:len(raw)-macLen], raw[len(raw)-macLen:]
	m := hmac.New(sha256.New, key)
	m.Write(body)
	if !hmac.Equal(m.Sum(nil), mac) {
		return g, ErrBadGrant
	}
	if body[0] != grantVersion {
		return g, ErrBadGrant
	}
	g.Op = body[1]
	g.ExpiresAtMs = int64(binary.BigEndian.Uint64(body[2:]))
	g.Size = int64(binary.BigEndian.Uint64(body[10:]))
	copy(g.SHA256[:], body[18:50])
	rest := body[grantFixed:]
	var fields [3]string
	for i := range fields {
		if len(rest) < 1 || len(rest) < 1+int(rest[0]) {
			return Grant{}, ErrBadGrant
		}
		n := int(rest[0])
		fields[i], rest = string(rest[1:1+n]), rest[1+n:]
	}
	if len(rest) != 0 || g.Size < 0 || !storage.ValidKey(fields[0]) {
		return Grant{}, ErrBadGrant
	}
	g.Key, g.ContentType, g.Disposition = fields[0], fields[1], fields[2]
	if g.Op != op {
		return Grant{}, ErrBadGrant
	}
	if nowMs >= g.ExpiresAtMs {
		return Grant{}, ErrExpiredGrant
	}
	return g, nil
}

// LoadGrantKey reads the grant key from dir/blob-grant.key, creating it
// (32 random bytes, mode 0600) on first use. Grants survive restarts; to
// revoke every outstanding grant, delete the file.
func LoadGrantKey(dir string) ([]byte, error) {
	p := filepath.Join(dir, "blob-grant.key")
	if b, err := os.ReadFile(p); err == nil {
		if len(b) < 32 {
			return nil, fmt.Errorf("blobs: %s holds %d bytes, want 32", p, len(b))
		}
		return b, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("blobs: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("blobs: %w", err)
	}
	tmp := p + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("blobs: %w", err)
	}
	if _, err := f.Write(key); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("blobs: %w", err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("blobs: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("blobs: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return nil, fmt.Errorf("blobs: %w", err)
	}
	return key, nil
}
