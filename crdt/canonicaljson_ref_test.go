package crdt

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"sort"
	"strconv"
)

// refCanonicalJSON is a deliberately naive CanonicalJSON used as an oracle:
// encoding/json's tokenizer builds a tree, maps detect duplicate keys, and
// encoding/json prints the strings and numbers. It shares no code with the
// scanner it checks.
func refCanonicalJSON(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	v, err := refParse(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, ErrInvalidJSON
	}
	var buf bytes.Buffer
	if err := refWrite(&buf, v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func refParse(dec *json.Decoder, depth int) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, ErrInvalidJSON
	}
	switch t := tok.(type) {
	case json.Delim:
		if depth+1 > MaxJSONDepth {
			return nil, ErrTooDeep
		}
		switch t {
		case '{':
			obj := map[string]any{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, ErrInvalidJSON
				}
				key, ok := kt.(string)
				if !ok {
					return nil, ErrInvalidJSON
				}
				if _, dup := obj[key]; dup {
					return nil, ErrInvalidJSON
				}
				v, err := refParse(dec, depth+1)
				if err != nil {
					return nil, err
				}
				obj[key] = v
			}
			if end, err := dec.Token(); err != nil || end != json.Delim('}') {
				return nil, ErrInvalidJSON
			}
			return obj, nil
		case '[':
			arr := []any{}
			for dec.More() {
				v, err := refParse(dec, depth+1)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			if end, err := dec.Token(); err != nil || end != json.Delim(']') {
				return nil, ErrInvalidJSON
			}
			return arr, nil
		}
		return nil, ErrInvalidJSON
	case json.Number:
		f, err := strconv.ParseFloat(string(t), 64)
		if err != nil {
			if math.IsInf(f, 0) {
				return nil, ErrNumberRange
			}
			return nil, ErrInvalidJSON
		}
		return f, nil
	default: // string, bool, nil
		return t, nil
	}
}

func refWrite(buf *bytes.Buffer, v any) error {
	switch t := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := refWrite(buf, k); err != nil {
				return err
			}
			buf.WriteByte(':')
			if err := refWrite(buf, t[k]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case []any:
		buf.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := refWrite(buf, e); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case float64:
		if t == 0 {
			t = 0 // -0 prints as 0
		}
		b, err := json.Marshal(t)
		if err != nil {
			return err
		}
		buf.Write(b)
	default: // string, bool, nil
		var sb bytes.Buffer
		enc := json.NewEncoder(&sb)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(t); err != nil {
			return err
		}
		buf.Write(bytes.TrimSuffix(sb.Bytes(), []byte("\n")))
	}
	return nil
}

// canonicalErrorClass names which sentinel err matches, for comparisons.
func canonicalErrorClass(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrTooDeep):
		return "too-deep"
	case errors.Is(err, ErrNumberRange):
		return "number-range"
	case errors.Is(err, ErrInvalidJSON):
		return "invalid"
	}
	return "unknown: " + err.Error()
}
