package bench

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"
)

// A push answer carries each applied op's payload back (api.md: the
// result's payload is the op's when it was applied), so a 100-op answer
// is about as large as its request. encoding/json reads it twice a byte
// at a time (validation, then decoding), which took 40% of the load
// client's CPU in the push cells: CPU the two shared cores then lacked for
// syncd. decodePushResult reads the few fields the harness checks and
// skips the rest with a scanner that finds a string's end with
// IndexByte. Anything it does not take exactly as encoding/json would (an
// escaped or case-folded key, a value of another type, a number that is
// not a plain uint64) it leaves to encoding/json, so its answers are
// encoding/json's (FuzzDecodePushResult checks that).

// errSlowPath sends an answer to encoding/json.
var errSlowPath = errors.New("bench: push answer needs encoding/json")

// decodePushResult decodes a push answer into out.
func decodePushResult(data []byte, out *pushResult) error {
	var res pushResult
	if err := fastPushResult(data, &res); err == nil {
		*out = res
		return nil
	}
	res = pushResult{}
	if err := json.Unmarshal(data, &res); err != nil {
		return err
	}
	*out = res
	return nil
}

// fastPushResult is the fast path; any error means "ask encoding/json".
func fastPushResult(data []byte, out *pushResult) error {
	s := scan{b: data}
	seen := false
	err := s.object(func(key []byte) error {
		switch string(key) {
		case "results":
			if seen {
				return errSlowPath // encoding/json decodes into the first one's elements
			}
			seen = true
			if s.null() {
				out.Results = nil
				return nil
			}
			out.Results = out.Results[:0]
			if err := s.array(func() error {
				out.Results = append(out.Results, opResult{})
				r := &out.Results[len(out.Results)-1]
				if s.null() {
					return nil
				}
				return s.object(func(key []byte) error { return s.opResultField(key, r) })
			}); err != nil {
				return err
			}
			if out.Results == nil {
				out.Results = []opResult{}
			}
			return nil
		case "serverVersion":
			return s.uint(&out.ServerVersion)
		}
		return s.other(key)
	})
	if err != nil {
		return err
	}
	s.space()
	if s.i != len(s.b) {
		return errSlowPath
	}
	return nil
}

func (s *scan) opResultField(key []byte, r *opResult) error {
	switch string(key) {
	case "opId":
		return s.str(&r.OpID)
	case "success":
		return s.boolean(&r.Success)
	case "serverVersion":
		return s.uint(&r.ServerVersion)
	case "applied":
		if s.null() {
			r.Applied = nil
			return nil
		}
		var v bool
		if err := s.boolean(&v); err != nil {
			return err
		}
		r.Applied = &v
		return nil
	case "errorCode":
		return s.str(&r.ErrorCode)
	case "error":
		return s.str(&r.Error)
	}
	return s.other(key)
}

// scan reads JSON from b at i.
type scan struct {
	b []byte
	i int
}

var knownKeys = []string{"results", "serverVersion", "opId", "success", "applied", "errorCode", "error"}

// other skips the value of a key the harness does not read, unless the
// key is one it reads spelled another way (encoding/json matches keys
// case-insensitively).
func (s *scan) other(key []byte) error {
	for _, k := range knownKeys {
		if bytes.EqualFold(key, []byte(k)) {
			return errSlowPath
		}
	}
	return s.skip(0)
}

func (s *scan) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (s *scan) peek() byte {
	s.space()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scan) lit(w string) bool {
	if bytes.HasPrefix(s.b[s.i:], []byte(w)) {
		s.i += len(w)
		return true
	}
	return false
}

// null consumes a null if one is next.
func (s *scan) null() bool { return s.peek() == 'n' && s.lit("null") }

// object calls field for each key of the object that is next; field
// consumes the value.
func (s *scan) object(field func(key []byte) error) error {
	if s.peek() != '{' {
		return errSlowPath
	}
	s.i++
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		if s.peek() != '"' {
			return errSlowPath
		}
		key, esc, err := s.rawString()
		if err != nil || esc {
			return errSlowPath
		}
		if s.peek() != ':' {
			return errSlowPath
		}
		s.i++
		if err := field(key); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return errSlowPath
		}
	}
}

// array calls elem for each element of the array that is next.
func (s *scan) array(elem func() error) error {
	if s.peek() != '[' {
		return errSlowPath
	}
	s.i++
	if s.peek() == ']' {
		s.i++
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return nil
		default:
			return errSlowPath
		}
	}
}

// rawString consumes the string at i (its opening quote) and returns its
// bytes between the quotes; esc reports a backslash in them. Escapes are
// checked; control characters are refused, as JSON requires.
func (s *scan) rawString() (raw []byte, esc bool, err error) {
	start := s.i + 1
	j := start
	for {
		k := bytes.IndexByte(s.b[j:], '"')
		if k < 0 {
			return nil, false, errSlowPath
		}
		seg := s.b[j : j+k]
		bs := bytes.IndexByte(seg, '\\')
		if bs < 0 {
			if hasControl(seg) {
				return nil, false, errSlowPath
			}
			j += k
			break
		}
		if hasControl(seg[:bs]) {
			return nil, false, errSlowPath
		}
		esc = true
		j += bs
		if j+1 >= len(s.b) {
			return nil, false, errSlowPath
		}
		switch s.b[j+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			j += 2
		case 'u':
			if j+6 > len(s.b) {
				return nil, false, errSlowPath
			}
			for _, c := range s.b[j+2 : j+6] {
				if !isHex(c) {
					return nil, false, errSlowPath
				}
			}
			j += 6
		default:
			return nil, false, errSlowPath
		}
	}
	s.i = j + 1
	return s.b[start:j], esc, nil
}

// hasControl reports a byte below 0x20 in b, eight bytes at a time.
func hasControl(b []byte) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for len(b) >= 8 {
		x := binary.LittleEndian.Uint64(b)
		if (x-ones*0x20)&^x&highs != 0 {
			return true
		}
		b = b[8:]
	}
	for _, c := range b {
		if c < 0x20 {
			return true
		}
	}
	return false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// str decodes a string (null leaves v as it is, as encoding/json does).
func (s *scan) str(v *string) error {
	if s.null() {
		return nil
	}
	if s.peek() != '"' {
		return errSlowPath
	}
	raw, esc, err := s.rawString()
	if err != nil || esc || !utf8.Valid(raw) {
		return errSlowPath
	}
	*v = string(raw)
	return nil
}

func (s *scan) boolean(v *bool) error {
	switch {
	case s.null():
	case s.peek() == 't' && s.lit("true"):
		*v = true
	case s.peek() == 'f' && s.lit("false"):
		*v = false
	default:
		return errSlowPath
	}
	return nil
}

// uint decodes a plain non-negative integer that fits a uint64.
func (s *scan) uint(v *uint64) error {
	if s.null() {
		return nil
	}
	s.space()
	j := s.i
	for j < len(s.b) && '0' <= s.b[j] && s.b[j] <= '9' {
		j++
	}
	if j == s.i || j < len(s.b) && (s.b[j] == '.' || s.b[j] == 'e' || s.b[j] == 'E') {
		return errSlowPath
	}
	if s.b[s.i] == '0' && j > s.i+1 {
		return errSlowPath
	}
	n, err := strconv.ParseUint(string(s.b[s.i:j]), 10, 64)
	if err != nil {
		return errSlowPath
	}
	*v = n
	s.i = j
	return nil
}

// maxDepth bounds skip's recursion, as encoding/json bounds its own.
const maxDepth = 1000

// skip consumes any value.
func (s *scan) skip(depth int) error {
	if depth > maxDepth {
		return errSlowPath
	}
	switch c := s.peek(); {
	case c == '"':
		_, _, err := s.rawString()
		return err
	case c == '{':
		return s.object(func([]byte) error { return s.skip(depth + 1) })
	case c == '[':
		return s.array(func() error { return s.skip(depth + 1) })
	case c == 't':
		if s.lit("true") {
			return nil
		}
	case c == 'f':
		if s.lit("false") {
			return nil
		}
	case c == 'n':
		if s.lit("null") {
			return nil
		}
	case c == '-' || '0' <= c && c <= '9':
		return s.number()
	}
	return errSlowPath
}

// number consumes a number, by JSON's grammar.
func (s *scan) number() error {
	b, j := s.b, s.i
	digits := func() bool {
		k := j
		for j < len(b) && '0' <= b[j] && b[j] <= '9' {
			j++
		}
		return j > k
	}
	if j < len(b) && b[j] == '-' {
		j++
	}
	switch {
	case j < len(b) && b[j] == '0':
		j++
	case !digits():
		return errSlowPath
	}
	if j < len(b) && b[j] == '.' {
		j++
		if !digits() {
			return errSlowPath
		}
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		j++
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		if !digits() {
			return errSlowPath
		}
	}
	s.i = j
	return nil
}

// decodeAnswer decodes a 2xx answer: push answers by decodePushResult,
// the rest by encoding/json.
func decodeAnswer(data []byte, out any) error {
	if pr, ok := out.(*pushResult); ok {
		return decodePushResult(data, pr)
	}
	return json.Unmarshal(data, out)
}
