package webhooks

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"regexp"
	"strconv"
	"strings"
)

// Secret and signing errors (side-modules §5.2; the messages are the
// spec's, capitals included).
var (
	ErrNoEncryptionKey = errors.New("Webhook encryption key is required")
	//lint:ignore ST1005 the spec's message
	ErrBadSecretFormat = errors.New("Invalid webhook secret payload")
	//lint:ignore ST1005 the spec's message
	ErrDecryptSecret = errors.New("Failed to decrypt webhook signing secret")
)

// secretRE is the shape of a signing secret: "whs_" + 64 hex (32 bytes).
var secretRE = regexp.MustCompile(`^whs_[0-9a-f]{64}$`)

// GenerateSecret returns a new signing secret, "whs_" + 64 hex chars.
func GenerateSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "whs_" + hex.EncodeToString(b[:]), nil
}

// ValidSecret reports whether s has the shape of a signing secret.
func ValidSecret(s string) bool { return secretRE.MatchString(s) }

// cipherKey derives the AES-256 key: SHA-256 of the configured key string.
func cipherKey(key string) ([]byte, error) {
	if key == "" {
		return nil, ErrNoEncryptionKey
	}
	k := sha256.Sum256([]byte(key))
	return k[:], nil
}

func gcm(key string) (cipher.AEAD, error) {
	k, err := cipherKey(key)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// EncryptSecret encrypts plaintext with AES-256-GCM under SHA-256(key), a
// random 12-byte IV, as "v1.<iv>.<tag>.<ciphertext>" (base64url, no
// padding).
func EncryptSecret(key, plaintext string) (string, error) {
	a, err := gcm(key)
	if err != nil {
		return "", err
	}
	iv := make([]byte, a.NonceSize())
	if _, err := rand.Read(iv); err != nil {
		return "", err
	}
	sealed := a.Seal(nil, iv, []byte(plaintext), nil)
	ct, tag := sealed[:len(sealed)-a.Overhead()], sealed[len(sealed)-a.Overhead():]
	enc := base64.RawURLEncoding
	return "v1." + enc.EncodeToString(iv) + "." + enc.EncodeToString(tag) + "." + enc.EncodeToString(ct), nil
}

// DecryptSecret reverses EncryptSecret: a payload of another shape is
// ErrBadSecretFormat, a wrong key or tampered payload ErrDecryptSecret.
func DecryptSecret(key, payload string) (string, error) {
	a, err := gcm(key)
	if err != nil {
		return "", err
	}
	parts := strings.Split(payload, ".")
	if len(parts) != 4 || parts[0] != "v1" {
		return "", ErrBadSecretFormat
	}
	enc := base64.RawURLEncoding
	iv, err1 := enc.DecodeString(parts[1])
	tag, err2 := enc.DecodeString(parts[2])
	ct, err3 := enc.DecodeString(parts[3])
	if err1 != nil || err2 != nil || err3 != nil || len(iv) != a.NonceSize() || len(tag) != a.Overhead() {
		return "", ErrBadSecretFormat
	}
	pt, err := a.Open(nil, iv, append(ct, tag...), nil)
	if err != nil {
		return "", ErrDecryptSecret
	}
	return string(pt), nil
}

// Sign returns the X-OR3-Signature value of body sent at unix second ts:
// "sha256=" + hex(HMAC-SHA256(secret, "<ts>.<body>")).
func Sign(secret string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(ts, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a signature in constant time (for receivers and tests).
func Verify(secret string, ts int64, body []byte, signature string) bool {
	return hmac.Equal([]byte(Sign(secret, ts, body)), []byte(signature))
}
