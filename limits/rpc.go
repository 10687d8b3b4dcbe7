package limits

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"

	"github.com/or3/syncd/syncerr"
)

// Call runs a rateLimit RPC method (api.md "RPC stores"):
//
//	checkAndRecord([key, {windowMs, maxRequests}]) → {allowed, remaining, retryAfterMs?}
//	getStats([key, {windowMs, maxRequests}])       → {limit, remaining, resetMs}
//
// Bad arguments are 400; an unknown method is 404.
func (l *Limiter) Call(_ context.Context, method string, args json.RawMessage) (any, error) {
	switch method {
	case "checkAndRecord", "getStats":
	default:
		return nil, syncerr.NotFound("unknown method rateLimit.%.64q", method)
	}
	key, windowMs, maxReq, err := DecodeArgs(args)
	if err != nil {
		return nil, err
	}
	if method == "checkAndRecord" {
		return l.CheckAndRecord(key, windowMs, maxReq)
	}
	return l.GetStats(key, windowMs, maxReq)
}

// DecodeArgs decodes [key, {windowMs, maxRequests}]. Unknown object keys
// and trailing nulls are ignored; anything else malformed is 400.
func DecodeArgs(args json.RawMessage) (key string, windowMs, maxRequests int64, err error) {
	var arr []json.RawMessage
	if err := strictUnmarshal(args, &arr); err != nil {
		return "", 0, 0, syncerr.Validation("arguments must be a JSON array [key, {windowMs, maxRequests}]")
	}
	for len(arr) > 2 && bytes.Equal(bytes.TrimSpace(arr[len(arr)-1]), []byte("null")) {
		arr = arr[:len(arr)-1]
	}
	if len(arr) != 2 {
		return "", 0, 0, syncerr.Validation("want 2 arguments [key, {windowMs, maxRequests}], got %d", len(arr))
	}
	if err := strictUnmarshal(arr[0], &key); err != nil {
		return "", 0, 0, syncerr.Validation("key must be a string")
	}
	var cfg map[string]json.RawMessage
	if err := strictUnmarshal(arr[1], &cfg); err != nil || cfg == nil {
		return "", 0, 0, syncerr.Validation("config must be an object {windowMs, maxRequests}")
	}
	if windowMs, err = intField(cfg, "windowMs"); err != nil {
		return "", 0, 0, err
	}
	if maxRequests, err = intField(cfg, "maxRequests"); err != nil {
		return "", 0, 0, err
	}
	if err := CheckConfig(key, windowMs, maxRequests); err != nil {
		return "", 0, 0, err
	}
	return key, windowMs, maxRequests, nil
}

func strictUnmarshal(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return fmt.Errorf("trailing data")
	}
	return nil
}

// intField reads an integral JSON number (60000 or 6e4; not 1.5, not "60").
func intField(obj map[string]json.RawMessage, name string) (int64, error) {
	raw, ok := obj[name]
	if !ok {
		return 0, syncerr.Validation("config.%s is required", name)
	}
	var n json.Number
	if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '"' {
		return 0, syncerr.Validation("config.%s must be a number", name)
	}
	if err := strictUnmarshal(raw, &n); err != nil {
		return 0, syncerr.Validation("config.%s must be a number", name)
	}
	f, err := n.Float64()
	if err != nil || f != math.Trunc(f) || f < -maxSafeInt || f > maxSafeInt {
		return 0, syncerr.Validation("Invalid rate-limit configuration: %s must be a positive safe integer", name)
	}
	return int64(f), nil
}
