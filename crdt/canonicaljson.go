package crdt

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxJSONDepth is the deepest nesting of objects and arrays CanonicalJSON
// accepts. A top-level object or array is at depth 1.
const MaxJSONDepth = 64

// ErrInvalidJSON is returned by CanonicalJSON for input that is not exactly
// one JSON value (RFC 8259), or that has an object with two equal keys.
var ErrInvalidJSON = errors.New("crdt: invalid JSON")

// ErrTooDeep is returned by CanonicalJSON when objects and arrays nest deeper
// than MaxJSONDepth.
var ErrTooDeep = errors.New("crdt: JSON nested too deeply")

// ErrNumberRange is returned by CanonicalJSON for a number whose magnitude is
// too large for a float64.
var ErrNumberRange = errors.New("crdt: JSON number out of float64 range")

// CanonicalJSON returns the canonical form of one JSON value, so that two
// texts that mean the same value have the same bytes (sync-contract §3.3,
// §6 item 12):
//
//   - no insignificant whitespace;
//   - object members sorted by key, comparing the decoded keys' UTF-8 bytes
//     (not UTF-16 code units as RFC 8785 does; the two orders differ only
//     for keys that mix U+E000–U+FFFF with astral characters);
//   - strings decoded and re-encoded the way encoding/json does with
//     SetEscapeHTML(false): `"`, `\` and control characters escaped (\b \f
//     \n \r \t, else \u00xx), U+2028 and U+2029 escaped, everything else
//     raw UTF-8; "\/" and other needless escapes become the raw character;
//     invalid UTF-8 bytes and unpaired surrogate escapes become U+FFFD, as
//     encoding/json decodes them;
//   - numbers by value: parsed as float64 (correctly rounded, so integers
//     beyond 2^53 lose precision exactly as in the JavaScript clients, and
//     values too small for a float64 become 0) and written in the
//     ECMAScript / RFC 8785 form, which is what encoding/json writes for a
//     float64 except that -0 is written 0. So 1, 1.0, 1e0, 10e-1 and -0.0e5
//     all become 1 or 0 as expected; 1e21 is written 1e+21 and 1e-7 stays
//     1e-7.
//
// Errors, all matched with errors.Is: ErrInvalidJSON for malformed input,
// trailing data or a duplicate key (keys compare after decoding, so "a" and
// "\u0061" collide); ErrTooDeep beyond MaxJSONDepth; ErrNumberRange for a
// number that overflows float64. CanonicalJSON never panics. It is
// idempotent, and its output is valid JSON.
func CanonicalJSON(raw []byte) ([]byte, error) {
	out, err := appendCanonicalJSON(make([]byte, 0, len(raw)+len(raw)/8), raw)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// appendCanonicalJSON appends the canonical form of raw to dst. On error it
// returns dst unchanged in length.
func appendCanonicalJSON(dst, raw []byte) ([]byte, error) {
	var members [32]member // enough for most objects without allocating
	c := canonicalizer{in: raw, out: dst, members: members[:0]}
	return c.run(dst)
}

// run canonicalizes c.in onto c.out (which starts as dst).
func (c *canonicalizer) run(dst []byte) ([]byte, error) {
	if err := c.value(0); err != nil {
		return dst, err
	}
	c.skipSpace()
	if c.pos != len(c.in) {
		return dst, c.syntaxError("data after the top-level value")
	}
	return c.out, nil
}

// canonicalizer is a single-pass recursive-descent scanner that writes the
// canonical form as it validates, without building a tree. Objects are
// written member by member in input order, then reordered in place if their
// keys were not already sorted: one copy of the object's bytes out to a
// scratch buffer and back. The allocations are the output, the member
// stack and, if some object arrived unsorted, one scratch buffer the size of
// the input. Depth is bounded by MaxJSONDepth, so the recursion and the
// reordering copies (at most two per level) are too.
type canonicalizer struct {
	in  []byte
	pos int
	out []byte
	// members is a stack shared by nested objects: each object uses the
	// entries from the length it found on entry.
	members []member
	// keys holds decoded keys that could not be sliced straight from in
	// (those with escapes or invalid UTF-8); a stack like members.
	keys []byte
	// scratch is reused to reorder an object's members.
	scratch []byte
}

// member is one object member already written to out. It holds no
// pointers, so sorting members is plain memory moves.
type member struct {
	// The decoded key, for ordering and duplicate detection, is
	// in[keyStart:keyEnd], or keys[keyStart:keyEnd] when inKeys is set.
	keyStart, keyEnd int
	inKeys           bool
	start, end       int // `"key":value` is out[start:end]
}

// key returns m's decoded key.
func (c *canonicalizer) key(m member) []byte {
	if m.inKeys {
		return c.keys[m.keyStart:m.keyEnd]
	}
	return c.in[m.keyStart:m.keyEnd]
}

func (c *canonicalizer) syntaxError(what string) error {
	if c.pos >= len(c.in) {
		return fmt.Errorf("%w: %s at end of input", ErrInvalidJSON, what)
	}
	return fmt.Errorf("%w: %s at offset %d (%q)", ErrInvalidJSON, what, c.pos, c.in[c.pos])
}

func (c *canonicalizer) skipSpace() {
	for c.pos < len(c.in) {
		switch c.in[c.pos] {
		case ' ', '\t', '\n', '\r':
			c.pos++
		default:
			return
		}
	}
}

// value scans one value at the current position. depth is the number of
// containers enclosing it.
func (c *canonicalizer) value(depth int) error {
	c.skipSpace()
	if c.pos >= len(c.in) {
		return c.syntaxError("expected a value")
	}
	switch b := c.in[c.pos]; {
	case b == '{':
		return c.object(depth + 1)
	case b == '[':
		return c.array(depth + 1)
	case b == '"':
		_, err := c.str(false)
		return err
	case b == 't':
		return c.literal("true")
	case b == 'f':
		return c.literal("false")
	case b == 'n':
		return c.literal("null")
	case b == '-' || ('0' <= b && b <= '9'):
		return c.number()
	}
	return c.syntaxError("expected a value")
}

func (c *canonicalizer) literal(word string) error {
	if len(c.in)-c.pos < len(word) || string(c.in[c.pos:c.pos+len(word)]) != word {
		return c.syntaxError("invalid literal")
	}
	c.pos += len(word)
	c.out = append(c.out, word...)
	return nil
}

func (c *canonicalizer) tooDeep() error {
	return fmt.Errorf("%w: more than %d levels at offset %d", ErrTooDeep, MaxJSONDepth, c.pos)
}

func (c *canonicalizer) array(depth int) error {
	if depth > MaxJSONDepth {
		return c.tooDeep()
	}
	c.pos++ // '['
	c.out = append(c.out, '[')
	c.skipSpace()
	if c.pos < len(c.in) && c.in[c.pos] == ']' {
		c.pos++
		c.out = append(c.out, ']')
		return nil
	}
	for {
		if err := c.value(depth); err != nil {
			return err
		}
		c.skipSpace()
		if c.pos >= len(c.in) {
			return c.syntaxError("unterminated array")
		}
		switch c.in[c.pos] {
		case ',':
			c.pos++
			c.out = append(c.out, ',')
		case ']':
			c.pos++
			c.out = append(c.out, ']')
			return nil
		default:
			return c.syntaxError("expected ',' or ']'")
		}
	}
}

func (c *canonicalizer) object(depth int) error {
	if depth > MaxJSONDepth {
		return c.tooDeep()
	}
	c.pos++ // '{'
	c.out = append(c.out, '{')
	body := len(c.out)
	// On error the whole scan is abandoned, so only the success paths
	// below need to pop this object's members and keys.
	base, keysBase := len(c.members), len(c.keys)

	c.skipSpace()
	if c.pos < len(c.in) && c.in[c.pos] == '}' {
		c.pos++
		c.out = append(c.out, '}')
		return nil
	}
	for {
		c.skipSpace()
		if c.pos >= len(c.in) || c.in[c.pos] != '"' {
			return c.syntaxError("expected an object key")
		}
		start := len(c.out)
		m, err := c.str(true)
		if err != nil {
			return err
		}
		m.start = start
		c.skipSpace()
		if c.pos >= len(c.in) || c.in[c.pos] != ':' {
			return c.syntaxError("expected ':'")
		}
		c.pos++
		c.out = append(c.out, ':')
		if err := c.value(depth); err != nil {
			return err
		}
		m.end = len(c.out)
		c.members = append(c.members, m)
		c.skipSpace()
		if c.pos >= len(c.in) {
			return c.syntaxError("unterminated object")
		}
		if c.in[c.pos] == '}' {
			c.pos++
			break
		}
		if c.in[c.pos] != ',' {
			return c.syntaxError("expected ',' or '}'")
		}
		c.pos++
		c.out = append(c.out, ',')
	}
	if err := c.sortMembers(body, c.members[base:]); err != nil {
		return err
	}
	c.out = append(c.out, '}')
	c.members, c.keys = c.members[:base], c.keys[:keysBase]
	return nil
}

// sortMembers puts the members written at out[body:] in key order, or
// reports a duplicate key.
func (c *canonicalizer) sortMembers(body int, ms []member) error {
	sorted := true
	for i := 1; i < len(ms); i++ {
		if bytes.Compare(c.key(ms[i-1]), c.key(ms[i])) >= 0 {
			sorted = false
			break
		}
	}
	if sorted {
		return nil // strictly increasing: no duplicates either
	}
	if len(ms) <= 16 {
		for i := 1; i < len(ms); i++ {
			m, k := ms[i], c.key(ms[i])
			j := i
			for ; j > 0 && bytes.Compare(c.key(ms[j-1]), k) > 0; j-- {
				ms[j] = ms[j-1]
			}
			ms[j] = m
		}
	} else {
		slices.SortFunc(ms, func(a, b member) int { return bytes.Compare(c.key(a), c.key(b)) })
	}
	for i := 1; i < len(ms); i++ {
		if bytes.Equal(c.key(ms[i-1]), c.key(ms[i])) {
			return fmt.Errorf("%w: duplicate object key %.60q", ErrInvalidJSON, c.key(ms[i]))
		}
	}
	if need := len(c.out) - body; cap(c.scratch) < need {
		// The outermost unsorted object is usually the largest, so size
		// the buffer for the whole input once.
		c.scratch = make([]byte, 0, max(need, len(c.in)))
	}
	c.scratch = append(c.scratch[:0], c.out[body:]...)
	c.out = c.out[:body]
	for i, m := range ms {
		if i > 0 {
			c.out = append(c.out, ',')
		}
		c.out = append(c.out, c.scratch[m.start-body:m.end-body]...)
	}
	return nil
}

// safeByte marks the bytes a string can contain that both decode to
// themselves and are written unescaped: printable ASCII except '"' and '\'.
var safeByte = func() (t [256]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\'
	}
	return t
}()

// str scans a string at the current position (which holds '"') and writes
// its canonical encoding. For a key it also returns where the decoded bytes
// are: in the input when the string needed no decoding, else in c.keys.
func (c *canonicalizer) str(isKey bool) (member, error) {
	c.pos++ // opening quote
	start := c.pos
	i := PlainRun(c.in, start)
	if i < len(c.in) && c.in[i] == '"' {
		// The common case: nothing to decode or escape.
		c.out = append(c.out, c.in[start-1:i+1]...)
		c.pos = i + 1
		return member{keyStart: start, keyEnd: i}, nil
	}
	c.out = append(c.out, '"')
	c.pos = i
	return c.strSlow(isKey, start)
}

// strSlow finishes a string that has escapes, non-ASCII bytes or an error,
// starting at c.pos; start is where its content began.
func (c *canonicalizer) strSlow(isKey bool, start int) (member, error) {
	in := c.in
	run := start // start of the pending run of bytes copied verbatim
	// decoding is set once a key's decoded bytes diverge from its raw
	// bytes; until then the decoded key is in[start:c.pos].
	decoding := false
	keyStart := len(c.keys)
	for {
		c.pos = PlainRun(in, c.pos)
		if c.pos >= len(in) {
			return member{}, c.syntaxError("unterminated string")
		}
		b := in[c.pos]
		if b >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(in[c.pos:])
			invalid := r == utf8.RuneError && size == 1
			if !invalid && r != '\u2028' && r != '\u2029' {
				c.pos += size // valid UTF-8 is copied as is
				continue
			}
			c.flushRun(run, decoding)
			if invalid && isKey && !decoding {
				// An invalid byte decodes to U+FFFD, unlike its raw self.
				decoding = true
				c.keys = append(c.keys, in[start:c.pos]...)
			}
			c.pos += size
			if invalid {
				r = utf8.RuneError
			}
			// U+2028 and U+2029 are escaped on output but decode to
			// themselves.
			c.out = appendCanonicalRune(c.out, r)
			if decoding {
				c.keys = utf8.AppendRune(c.keys, r)
			}
			run = c.pos
			continue
		}
		switch {
		case b == '"':
			c.flushRun(run, decoding)
			c.pos++
			c.out = append(c.out, '"')
			if decoding {
				return member{keyStart: keyStart, keyEnd: len(c.keys), inKeys: true}, nil
			}
			return member{keyStart: start, keyEnd: c.pos - 1}, nil
		case b == '\\':
			c.flushRun(run, decoding)
			if isKey && !decoding {
				decoding = true
				c.keys = append(c.keys, in[start:c.pos]...)
			}
			r, err := c.escape()
			if err != nil {
				return member{}, err
			}
			c.out = appendCanonicalRune(c.out, r)
			if decoding {
				c.keys = utf8.AppendRune(c.keys, r)
			}
			run = c.pos
		default: // b < 0x20
			return member{}, c.syntaxError("control character in string")
		}
	}
}

// flushRun copies in[run:c.pos], which needs no rewriting, to the output
// and, while a key is being decoded, to the key.
func (c *canonicalizer) flushRun(run int, decoding bool) {
	c.out = append(c.out, c.in[run:c.pos]...)
	if decoding {
		c.keys = append(c.keys, c.in[run:c.pos]...)
	}
}

// escape decodes the escape sequence at the current position (which holds
// '\') and returns the character it stands for. Like encoding/json, a \u
// escape of a surrogate that does not begin a valid pair yields U+FFFD and
// consumes only its own six bytes.
func (c *canonicalizer) escape() (rune, error) {
	if c.pos+1 >= len(c.in) {
		c.pos++
		return 0, c.syntaxError("unterminated escape")
	}
	c.pos += 2
	switch c.in[c.pos-1] {
	case '"':
		return '"', nil
	case '\\':
		return '\\', nil
	case '/':
		return '/', nil
	case 'b':
		return '\b', nil
	case 'f':
		return '\f', nil
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case 'u':
		r := hex4(c.in[c.pos:])
		if r < 0 {
			return 0, c.syntaxError(`invalid \u escape`)
		}
		c.pos += 4
		if !utf16.IsSurrogate(r) {
			return r, nil
		}
		if len(c.in)-c.pos >= 6 && c.in[c.pos] == '\\' && c.in[c.pos+1] == 'u' {
			if r2 := hex4(c.in[c.pos+2:]); r2 >= 0 {
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					c.pos += 6
					return dec, nil
				}
			}
		}
		return utf8.RuneError, nil
	}
	c.pos--
	return 0, c.syntaxError("invalid escape")
}

// hex4 decodes four hex digits at the start of b, or returns -1.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, ch := range b[:4] {
		switch {
		case '0' <= ch && ch <= '9':
			ch -= '0'
		case 'a' <= ch && ch <= 'f':
			ch = ch - 'a' + 10
		case 'A' <= ch && ch <= 'F':
			ch = ch - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(ch)
	}
	return r
}

const lowerHex = "0123456789abcdef"

// appendCanonicalRune appends r as it appears inside a canonical string,
// following encoding/json's escaping with HTML escaping off.
func appendCanonicalRune(dst []byte, r rune) []byte {
	switch r {
	case '"', '\\':
		return append(dst, '\\', byte(r))
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	case '\u2028', '\u2029':
		return append(dst, '\\', 'u', '2', '0', '2', lowerHex[r&0xF])
	}
	if r < 0x20 {
		return append(dst, '\\', 'u', '0', '0', lowerHex[r>>4], lowerHex[r&0xF])
	}
	return utf8.AppendRune(dst, r)
}

// appendCanonicalString appends s as a canonical JSON string: the form
// CanonicalJSON gives the JSON encoding of s. Invalid UTF-8 becomes U+FFFD.
func appendCanonicalString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	run := 0
	for i := 0; i < len(s); {
		b := s[i]
		if safeByte[b] {
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if b < utf8.RuneSelf || r == utf8.RuneError || r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[run:i]...)
			dst = appendCanonicalRune(dst, r)
			run = i + size
		}
		i += size
	}
	dst = append(dst, s[run:]...)
	return append(dst, '"')
}

// number scans a number at the current position and writes its canonical
// form.
func (c *canonicalizer) number() error {
	start := c.pos
	if c.in[c.pos] == '-' {
		c.pos++
	}
	// int: 0 | [1-9][0-9]*
	intStart := c.pos
	switch {
	case c.pos < len(c.in) && c.in[c.pos] == '0':
		c.pos++
	case c.pos < len(c.in) && '1' <= c.in[c.pos] && c.in[c.pos] <= '9':
		c.skipDigits()
	default:
		return c.syntaxError("invalid number")
	}
	intDigits, fracDigits := c.pos-intStart, 0
	fracStart := c.pos + 1
	if c.pos < len(c.in) && c.in[c.pos] == '.' {
		c.pos++
		if fracDigits = c.skipDigits(); fracDigits == 0 {
			return c.syntaxError("invalid number fraction")
		}
	}
	exponent := false
	if c.pos < len(c.in) && (c.in[c.pos] == 'e' || c.in[c.pos] == 'E') {
		exponent = true
		c.pos++
		if c.pos < len(c.in) && (c.in[c.pos] == '+' || c.in[c.pos] == '-') {
			c.pos++
		}
		if c.skipDigits() == 0 {
			return c.syntaxError("invalid number exponent")
		}
	}
	tok := c.in[start:c.pos]

	// Fast path: a plain decimal of at most 15 digits is already in
	// canonical form, unless it is -0, ends its fraction in a zero, or is
	// below 1e-6 (where the canonical form switches to an exponent). Any
	// decimal of at most 15 significant digits survives the round trip
	// through float64, and no other decimal that short maps to the same
	// float64, so it is its own shortest representation.
	if !exponent && intDigits+fracDigits <= 15 {
		switch {
		case fracDigits == 0 && string(tok) == "-0":
			c.out = append(c.out, '0')
			return nil
		case fracDigits == 0:
			c.out = append(c.out, tok...)
			return nil
		case c.in[c.pos-1] != '0' && !(c.in[intStart] == '0' && fracDigits >= 6 &&
			string(c.in[fracStart:fracStart+6]) == "000000"):
			c.out = append(c.out, tok...)
			return nil
		}
	}
	f, err := strconv.ParseFloat(string(tok), 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) && math.IsInf(f, 0) {
			return fmt.Errorf("%w: %.40q at offset %d", ErrNumberRange, tok, start)
		}
		return fmt.Errorf("%w: number %.40q at offset %d: %v", ErrInvalidJSON, tok, start, err)
	}
	c.out = appendCanonicalNumber(c.out, f)
	return nil
}

// skipDigits advances past ASCII digits and returns how many there were.
func (c *canonicalizer) skipDigits() int {
	n := 0
	for c.pos < len(c.in) && '0' <= c.in[c.pos] && c.in[c.pos] <= '9' {
		c.pos++
		n++
	}
	return n
}

// appendCanonicalNumber appends f in the ECMAScript Number-to-String form
// (RFC 8785 §3.2.2.3): the shortest digits that round-trip, in plain
// notation for 1e-6 <= |f| < 1e21 and in exponent notation otherwise, with
// -0 written as 0. f must be finite.
func appendCanonicalNumber(dst []byte, f float64) []byte {
	if f == 0 {
		return append(dst, '0') // also -0
	}
	format := byte('f')
	if abs := math.Abs(f); abs < 1e-6 || abs >= 1e21 {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// strconv writes e-07; ECMAScript writes e-7.
		if n := len(dst); n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}
