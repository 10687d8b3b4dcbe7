package api

import (
	"net/http"
	"testing"
)

func TestClientIP_IPv6Slash64(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.7:1234":            "192.0.2.7",
		"[2001:db8:1:2:3::9]:443":   "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:80": "2001:db8:1:2::/64",
		"[::ffff:192.0.2.7]:80":     "::ffff:192.0.2.7",
		"garbage":                   "garbage",
	} {
		if got := clientIP(&http.Request{RemoteAddr: addr}); got != want {
			t.Errorf("%s: %s want %s", addr, got, want)
		}
	}
}
