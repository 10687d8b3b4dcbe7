package api

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"

	"github.com/or3/syncd/syncerr"
)

// maxSafeInt is JavaScript's Number.MAX_SAFE_INTEGER: the largest integer
// every client can hold exactly.
const maxSafeInt = 1<<53 - 1

// object is a decoded JSON object whose members are still raw, with the
// path it was found at (for messages like "ops[2].stamp.clock must be an
// integer"). Keys match exactly; unknown keys are ignored.
type object struct {
	path string
	m    map[string]json.RawMessage
}

// jsonKind names the JSON type of a raw value for error messages.
func jsonKind(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

func isNull(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// parseObject decodes raw, which must be a JSON object. The body was
// checked by checkJSON, so raw is well-formed.
func parseObject(raw json.RawMessage, path string) (object, error) {
	name := path
	if name == "" {
		name = "the request body"
	}
	if len(raw) == 0 || raw[0] != '{' {
		return object{}, syncerr.Validation("%s must be a JSON object, not %s", name, jsonKind(raw))
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return object{}, syncerr.Validation("%s must be a JSON object: %v", name, err)
	}
	return object{path: path, m: m}, nil
}

// raw returns key's raw value (nil when absent).
func (o object) raw(key string) json.RawMessage { return o.m[key] }

// object returns the member key as an object; a missing or null member is
// an error when required, else the zero object.
func (o object) object(key string, required bool) (object, error) {
	raw := o.m[key]
	if isNull(raw) {
		if required {
			return object{}, syncerr.Validation("%s is required", join(o.path, key))
		}
		return object{path: join(o.path, key)}, nil
	}
	return parseObject(raw, join(o.path, key))
}

// str returns the member key as a string; absent or null is "" (the
// modules check required strings and their lengths).
func (o object) str(key string) (string, error) {
	raw := o.m[key]
	if isNull(raw) {
		return "", nil
	}
	if raw[0] != '"' {
		return "", syncerr.Validation("%s must be a string, not %s", join(o.path, key), jsonKind(raw))
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", syncerr.Validation("%s must be a string: %v", join(o.path, key), err)
	}
	return s, nil
}

// int returns the member key as an integer. present is false when the
// member is absent or null; required turns that into an error.
func (o object) int(key string, required bool) (n int64, present bool, err error) {
	raw := o.m[key]
	if isNull(raw) {
		if required {
			return 0, false, syncerr.Validation("%s is required and must be an integer", join(o.path, key))
		}
		return 0, false, nil
	}
	n, err = parseInt(raw, join(o.path, key))
	return n, err == nil, err
}

// strings returns the member key as an array of strings (nil when absent
// or null).
func (o object) strings(key string) ([]string, error) {
	raw := o.m[key]
	if isNull(raw) {
		return nil, nil
	}
	path := join(o.path, key)
	if raw[0] != '[' {
		return nil, syncerr.Validation("%s must be an array of strings, not %s", path, jsonKind(raw))
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, syncerr.Validation("%s must be an array: %v", path, err)
	}
	out := make([]string, len(items))
	for i, it := range items {
		if len(it) == 0 || it[0] != '"' {
			return nil, syncerr.Validation("%s[%d] must be a string, not %s", path, i, jsonKind(it))
		}
		if err := json.Unmarshal(it, &out[i]); err != nil {
			return nil, syncerr.Validation("%s[%d] must be a string: %v", path, i, err)
		}
	}
	return out, nil
}

// parseInt decodes a JSON number that must be an integer within
// ±(2^53−1). Integral values written with a fraction or exponent (2.0,
// 1e3) are accepted: they are the same JavaScript number.
func parseInt(raw json.RawMessage, path string) (int64, error) {
	s := string(raw)
	if jsonKind(raw) != "a number" {
		return 0, syncerr.Validation("%s must be an integer, not %s", path, jsonKind(raw))
	}
	if !strings.ContainsAny(s, ".eE") {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n > maxSafeInt || n < -maxSafeInt {
			return 0, syncerr.Validation("%s must be a safe integer (at most 2^53-1 in magnitude), not %.40s", path, s)
		}
		return n, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, syncerr.Validation("%s must be an integer, not %.40s", path, s)
	}
	if f != math.Trunc(f) {
		return 0, syncerr.Validation("%s must be an integer, not %.40s", path, s)
	}
	if math.Abs(f) > maxSafeInt {
		return 0, syncerr.Validation("%s must be a safe integer (at most 2^53-1 in magnitude), not %.40s", path, s)
	}
	return int64(f), nil
}

// nonNegative checks that an integer field is ≥ 0.
func nonNegative(n int64, path string) error {
	if n < 0 {
		return syncerr.Validation("%s must be a non-negative integer, not %d", path, n)
	}
	return nil
}

// parseArray decodes raw, which must be a JSON array, into its elements.
func parseArray(raw json.RawMessage, path string) ([]json.RawMessage, error) {
	if len(raw) == 0 || raw[0] != '[' {
		return nil, syncerr.Validation("%s must be an array, not %s", path, jsonKind(raw))
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, syncerr.Validation("%s must be an array: %v", path, err)
	}
	return items, nil
}
