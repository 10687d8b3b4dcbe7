package identity

import (
	"strings"
	"unicode/utf8"
)

// Input limits. Ids are opaque strings chosen by syncd (or, for provider
// subjects, by the identity provider); the caps keep keys and events
// bounded.
const (
	// MaxIDLen caps user, workspace and invite ids, provider names and
	// provider subjects, in bytes.
	MaxIDLen = 256
	// MaxTokenHashLen caps an invite token hash as the host sends it.
	MaxTokenHashLen = 256
	// MaxEmailLen caps an email address in bytes (RFC 5321's path limit).
	MaxEmailLen = 320
	// MaxDisplayNameLen caps a display name in bytes.
	MaxDisplayNameLen = 256
	// MaxWorkspaceNameLen caps a workspace name in UTF-16 code units, as
	// the host counts it (workspace-admin §3.5: "under 100 characters").
	MaxWorkspaceNameLen = 100
	// MaxWorkspaceDescriptionLen caps a description in UTF-16 code units.
	MaxWorkspaceDescriptionLen = 1000
)

// checkID validates an id-like argument.
func checkID(field, v string) error {
	switch {
	case v == "":
		return invalid("%s is required", field)
	case len(v) > MaxIDLen:
		return invalid("%s must be at most %d bytes", field, MaxIDLen)
	}
	return nil
}

// checkProvider validates a provider name: an id that may not contain
// 0x00, the separator of the user-id HMAC input.
func checkProvider(v string) error {
	if err := checkID("provider", v); err != nil {
		return err
	}
	if strings.IndexByte(v, 0) >= 0 {
		return invalid("provider must not contain NUL")
	}
	return nil
}

func checkTokenHash(v string) error {
	switch {
	case v == "":
		return invalid("tokenHash is required")
	case len(v) > MaxTokenHashLen:
		return invalid("tokenHash must be at most %d bytes", MaxTokenHashLen)
	}
	return nil
}

// normalizeEmail trims and lowercases an email, as both providers do for
// invites and as syncd does for every stored email (§0).
func normalizeEmail(v string) string { return strings.ToLower(strings.TrimSpace(v)) }

// checkEmail validates a normalized email. required: an empty value is an
// error; otherwise it means "unknown".
func checkEmail(v string, required bool) error {
	switch {
	case v == "" && required:
		return invalid("email is required")
	case v == "":
		return nil
	case len(v) > MaxEmailLen:
		return invalid("email must be at most %d bytes", MaxEmailLen)
	case !strings.Contains(v, "@"):
		return invalid("email must contain @")
	}
	return nil
}

func checkDisplayName(v string) error {
	if len(v) > MaxDisplayNameLen {
		return invalid("displayName must be at most %d bytes", MaxDisplayNameLen)
	}
	return nil
}

// utf16Len counts UTF-16 code units, JavaScript's String.length.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r >= 0x10000 {
			n++
		}
	}
	return n
}

// checkWorkspaceName validates a trimmed workspace name; the error text is
// the host's (§3.5).
func checkWorkspaceName(name string) error {
	switch {
	case name == "":
		return invalid("Workspace name is required")
	case !utf8.ValidString(name):
		return invalid("Workspace name must be valid UTF-8")
	case utf16Len(name) > MaxWorkspaceNameLen:
		return invalid("Workspace name must be under %d characters", MaxWorkspaceNameLen)
	}
	return nil
}

func checkWorkspaceDescription(d string) error {
	switch {
	case !utf8.ValidString(d):
		return invalid("Workspace description must be valid UTF-8")
	case utf16Len(d) > MaxWorkspaceDescriptionLen:
		return invalid("Workspace description must be under %d characters", MaxWorkspaceDescriptionLen)
	}
	return nil
}

// checkRole parses a role argument.
func checkRole(v Role) (Role, error) {
	r, ok := ParseRole(string(v))
	if !ok {
		return RoleNone, invalid("role must be one of owner, editor, viewer")
	}
	return r, nil
}

// firstErr returns the first non-nil error.
func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
