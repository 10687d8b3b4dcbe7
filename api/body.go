package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/or3/syncd/syncerr"
)

// Request body limits (api.md Decisions 2 and this layer's own bounds).
const (
	// MaxBodyBytes is the largest request body; larger ones are 413
	// OVERSIZED before the rest is read.
	MaxBodyBytes = 3 << 20
	// MaxJSONDepth is the deepest nesting of arrays and objects accepted.
	MaxJSONDepth = 64
)

// readJSONBody checks the Content-Type, reads at most MaxBodyBytes and
// checks that the body is one well-formed JSON value within the nesting
// and number bounds. A declared Content-Length above the limit is refused
// without reading anything.
func readJSONBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := readBody(w, r)
	if err != nil {
		return nil, err
	}
	if err := checkJSON(body); err != nil {
		return nil, err
	}
	return body, nil
}

// readBody is readJSONBody without the JSON check, for a decoder that
// checks as it decodes (push: decodePushFast, else checkJSON).
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if err := checkContentType(r.Header.Get("Content-Type")); err != nil {
		return nil, err
	}
	if r.ContentLength > MaxBodyBytes {
		return nil, oversized()
	}
	var buf []byte
	if r.ContentLength > 0 {
		// The declared size (at most MaxBodyBytes, checked above) plus one
		// byte, so the read that finds EOF needs no growth: a 100-op push
		// is read into one allocation instead of a dozen doublings.
		buf = make([]byte, 0, r.ContentLength+1)
	}
	body, err := readAll(buf, http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, oversized()
		}
		return nil, errorf(http.StatusBadRequest, "could not read the request body: %v", err)
	}
	return body, nil
}

func oversized() error {
	return syncerr.Oversized("request body exceeds %d bytes", MaxBodyBytes)
}

// checkContentType accepts application/json and any +json type.
func checkContentType(ct string) error {
	if ct == "" {
		return syncerr.UnsupportedMedia("Content-Type application/json is required")
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return syncerr.UnsupportedMedia("Content-Type must be application/json, not %q", ct)
	}
	return nil
}

// checkJSON validates body as exactly one JSON value nested at most
// MaxJSONDepth deep whose numbers all fit a float64.
func checkJSON(body []byte) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return syncerr.Validation("request body is empty; a JSON value is required")
	}
	if !json.Valid(body) {
		var v json.RawMessage
		err := json.Unmarshal(body, &v)
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return syncerr.Validation("malformed JSON at byte %d: %s", se.Offset, se.Error())
		}
		return syncerr.Validation("malformed JSON")
	}
	// JSON text is UTF-8 (RFC 8259 §8.1); encoding/json would silently
	// replace invalid bytes with U+FFFD, changing what the client sent.
	if !utf8.Valid(body) {
		return syncerr.Validation("request body is not valid UTF-8")
	}
	// The body is valid JSON, so a simple scan suffices: skip strings,
	// count brackets, parse number literals.
	depth := 0
	for i := 0; i < len(body); i++ {
		switch c := body[i]; {
		case c == '"':
			for i++; i < len(body) && body[i] != '"'; i++ {
				if body[i] == '\\' {
					i++
				}
			}
		case c == '{' || c == '[':
			if depth++; depth > MaxJSONDepth {
				return syncerr.Validation("JSON nested deeper than %d levels", MaxJSONDepth)
			}
		case c == '}' || c == ']':
			depth--
		case c == '-' || (c >= '0' && c <= '9'):
			j := i
			for j < len(body) && isNumberByte(body[j]) {
				j++
			}
			lit := body[i:j]
			if _, err := strconv.ParseFloat(string(lit), 64); err != nil {
				return syncerr.Validation("number %.40s does not fit a 64-bit float", lit)
			}
			i = j - 1
		}
	}
	return nil
}

func isNumberByte(c byte) bool {
	return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

// readAll is io.ReadAll appending to b.
func readAll(b []byte, r io.Reader) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
	}
}
