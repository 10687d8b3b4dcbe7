package engine

import (
	"bytes"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/or3/syncd/crdt"
)

// Small scanners over JSON text that validate, snapshot and canonical
// storage share: they skip a value without decoding it, so a 1 KiB payload
// costs one pass over its bytes. They assume text that json.Valid accepts
// (payloads are compacted and validated when pushed).

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] == '"'.
func skipString(b []byte, i int) (int, bool) {
	// Quote to quote with bytes.IndexByte (a 1 KiB message body is one
	// vectorized search); an odd run of backslashes before a quote
	// escapes it.
	j := i + 1
	for {
		q := bytes.IndexByte(b[j:], '"')
		if q < 0 {
			return 0, false
		}
		q += j
		k := q - 1
		for k > i && b[k] == '\\' {
			k--
		}
		if (q-1-k)%2 == 0 {
			return q + 1, true
		}
		j = q + 1
	}
}

// skipValue returns the index after the JSON value starting at b[i].
func skipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, ok := skipString(b, j)
				if !ok {
					return 0, false
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, true
				}
			}
		}
		return 0, false
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
		j++
	}
	return j, j > i
}

// The top-level payload members validation, ownership and the fold look at
// (sync-contract §3.2 step 3, §3.8): one slot each, so a scan records them
// without a map.
const (
	fieldDeleted = iota
	fieldUnderscoreID
	fieldWorkspaceID
	fieldID
	fieldHash
	fieldUserID
	numFields
)

var fieldNames = [numFields]string{"deleted", "_id", "workspace_id", "id", "hash", "user_id"}

// fieldSlot is the slot of a top-level key (its raw bytes, no escapes), or -1.
func fieldSlot(key []byte) int {
	switch len(key) {
	case 2:
		if key[0] == 'i' && key[1] == 'd' {
			return fieldID
		}
	case 3:
		if string(key) == "_id" {
			return fieldUnderscoreID
		}
	case 4:
		if string(key) == "hash" {
			return fieldHash
		}
	case 7:
		if string(key) == "deleted" {
			return fieldDeleted
		}
		if string(key) == "user_id" {
			return fieldUserID
		}
	case 12:
		if string(key) == "workspace_id" {
			return fieldWorkspaceID
		}
	}
	return -1
}

// span is a member value's position in a compacted payload; end 0 means
// absent (no value of an object member starts at 0).
type span struct{ start, end int32 }

// PayloadScan is what one pass over a payload (ScanPayload) learned: the
// payload is a JSON object in valid UTF-8, its bytes are compacted as
// json.Compact would write them, and where its interesting top-level members
// are. A decoder that ran ScanPayload sets PendingOp.Scan so that the engine
// does not scan the payload again. The zero value means "not scanned".
type PayloadScan struct {
	ok     bool
	fields [numFields]span
}

// field returns the raw value of a scanned top-level member of compact, or
// nil when absent.
func (p *PayloadScan) field(compact []byte, slot int) []byte {
	s := p.fields[slot]
	if s.end == 0 || int(s.end) > len(compact) {
		return nil
	}
	return compact[s.start:s.end]
}

// jsonScanner validates JSON strictly (RFC 8259 grammar, valid UTF-8 in
// strings, numbers that fit a float64, bounded nesting) and, when compact
// is set, writes the value with the whitespace between tokens removed,
// exactly as json.Compact does. It gives up (ok=false) on anything it does
// not accept; callers then take their general (slower, identical) path, so
// it may be stricter than they are but never looser.
type jsonScanner struct {
	in       []byte
	out      []byte // compacted output (when compact); cap ≥ len(in)
	compact  bool
	runStart int // start of the run of in not yet copied to out
	removed  int // whitespace bytes removed so far
	maxDepth int
	fields   *[numFields]span // top-level members to record, or nil
	keyEsc   bool             // the last string scanned had an escape
}

func (s *jsonScanner) ws(i int) int {
	j := i
	for j < len(s.in) {
		if c := s.in[j]; c != ' ' && c != '\n' && c != '\t' && c != '\r' {
			break
		}
		j++
	}
	if j > i {
		if s.compact {
			s.out = append(s.out, s.in[s.runStart:i]...)
			s.runStart = j
		}
		s.removed += j - i
	}
	return j
}

func (s *jsonScanner) value(i, depth int) (int, bool) {
	if i >= len(s.in) {
		return 0, false
	}
	switch c := s.in[i]; {
	case c == '"':
		return s.str(i)
	case c == '{':
		return s.object(i, depth+1)
	case c == '[':
		return s.array(i, depth+1)
	case c == 't':
		return s.lit(i, "true")
	case c == 'f':
		return s.lit(i, "false")
	case c == 'n':
		return s.lit(i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number(i)
	}
	return 0, false
}

func (s *jsonScanner) lit(i int, word string) (int, bool) {
	if len(s.in)-i < len(word) || string(s.in[i:i+len(word)]) != word {
		return 0, false
	}
	return i + len(word), true
}

func (s *jsonScanner) str(i int) (int, bool) {
	in := s.in
	s.keyEsc = false
	for j := i + 1; j < len(in); {
		if k := crdt.PlainRun(in, j); k > j { // plain ASCII needs no check
			j = k
			continue
		}
		c := in[j]
		switch {
		case c == '"':
			return j + 1, true
		case c == '\\':
			s.keyEsc = true
			if j+1 >= len(in) {
				return 0, false
			}
			switch in[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				if j+6 > len(in) || !isHex(in[j+2]) || !isHex(in[j+3]) || !isHex(in[j+4]) || !isHex(in[j+5]) {
					return 0, false
				}
				j += 6
			default:
				return 0, false
			}
		case c < 0x20:
			return 0, false
		default:
			r, size := utf8.DecodeRune(in[j:])
			if r == utf8.RuneError && size == 1 {
				return 0, false
			}
			j += size
		}
	}
	return 0, false
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (s *jsonScanner) number(i int) (int, bool) {
	in := s.in
	j := i
	if in[j] == '-' {
		j++
	}
	if j >= len(in) {
		return 0, false
	}
	switch c := in[j]; {
	case c == '0':
		j++
	case c >= '1' && c <= '9':
		for j < len(in) && isDigit(in[j]) {
			j++
		}
	default:
		return 0, false
	}
	if j < len(in) && in[j] == '.' {
		j++
		d := j
		for j < len(in) && isDigit(in[j]) {
			j++
		}
		if j == d {
			return 0, false
		}
	}
	exp := false
	if j < len(in) && (in[j] == 'e' || in[j] == 'E') {
		exp = true
		j++
		if j < len(in) && (in[j] == '+' || in[j] == '-') {
			j++
		}
		d := j
		for j < len(in) && isDigit(in[j]) {
			j++
		}
		if j == d {
			return 0, false
		}
	}
	if exp || j-i > 300 {
		if _, err := strconv.ParseFloat(string(in[i:j]), 64); err != nil {
			return 0, false
		}
	}
	return j, true
}

func (s *jsonScanner) array(i, depth int) (int, bool) {
	if depth > s.maxDepth {
		return 0, false
	}
	i = s.ws(i + 1)
	if i < len(s.in) && s.in[i] == ']' {
		return i + 1, true
	}
	for {
		var ok bool
		if i, ok = s.value(i, depth); !ok {
			return 0, false
		}
		i = s.ws(i)
		if i >= len(s.in) {
			return 0, false
		}
		switch s.in[i] {
		case ',':
			i = s.ws(i + 1)
		case ']':
			return i + 1, true
		default:
			return 0, false
		}
	}
}

func (s *jsonScanner) object(i, depth int) (int, bool) {
	if depth > s.maxDepth {
		return 0, false
	}
	i = s.ws(i + 1)
	if i < len(s.in) && s.in[i] == '}' {
		return i + 1, true
	}
	for {
		if i >= len(s.in) || s.in[i] != '"' {
			return 0, false
		}
		kStart := i
		kEnd, ok := s.str(i)
		if !ok {
			return 0, false
		}
		slot := -1
		if depth == 1 && s.fields != nil {
			if s.keyEsc {
				// An escaped top-level key might spell an interesting
				// name; leave it to the general path.
				return 0, false
			}
			slot = fieldSlot(s.in[kStart+1 : kEnd-1])
		}
		i = s.ws(kEnd)
		if i >= len(s.in) || s.in[i] != ':' {
			return 0, false
		}
		i = s.ws(i + 1)
		vStart := i - s.removed
		if i, ok = s.value(i, depth); !ok {
			return 0, false
		}
		if slot >= 0 {
			s.fields[slot] = span{int32(vStart), int32(i - s.removed)}
		}
		i = s.ws(i)
		if i >= len(s.in) {
			return 0, false
		}
		switch s.in[i] {
		case ',':
			i = s.ws(i + 1)
		case '}':
			return i + 1, true
		default:
			return 0, false
		}
	}
}

// ScanPayload scans the payload object starting at buf[i] (no leading
// whitespace) in one pass: it validates it strictly (JSON grammar, UTF-8,
// numbers within float64, at most maxDepth levels of nesting), copies it
// compacted (json.Compact's bytes) into a new slice, and notes where its
// interesting top-level members are. It returns the index after the value.
// ok is false for anything else (not an object, malformed, unusual), and
// the caller then hands the engine the payload as received: the engine's
// general path gives such payloads their exact per-op answers.
func ScanPayload(buf []byte, i, maxDepth int) (end int, compact []byte, scan PayloadScan, ok bool) {
	if i >= len(buf) || buf[i] != '{' {
		return 0, nil, PayloadScan{}, false
	}
	// Output coordinates are relative to the payload: removed starts at i
	// so that position i maps to 0.
	s := jsonScanner{in: buf, compact: true, runStart: i, removed: i, maxDepth: maxDepth, fields: &scan.fields}
	end, ok = s.object(i, 1)
	if !ok || end-s.removed > math.MaxInt32 {
		return 0, nil, PayloadScan{}, false
	}
	compact = make([]byte, 0, end-s.removed)
	compact = append(compact, s.out...)
	compact = append(compact, buf[s.runStart:end]...)
	scan.ok = true
	return end, compact, scan, true
}

// SkipJSON validates the JSON value at buf[i] (no leading whitespace) as
// ScanPayload does and returns the index after it and its compacted length.
func SkipJSON(buf []byte, i, maxDepth int) (end, compactLen int, ok bool) {
	s := jsonScanner{in: buf, maxDepth: maxDepth}
	end, ok = s.value(i, 0)
	if !ok {
		return 0, 0, false
	}
	return end, end - i - s.removed, true
}
