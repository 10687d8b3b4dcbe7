package webhooks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
)

// MaxURLLen bounds a webhook URL in bytes.
const MaxURLLen = 2048

// ErrPrivateTarget reports a target address on a private, loopback,
// link-local or metadata network while private targets are not allowed.
var ErrPrivateTarget = errors.New("webhooks: target address is private, loopback, link-local or metadata")

// metadataAddrs are cloud instance-metadata endpoints. They are refused
// even when private targets are allowed: nothing legitimate posts
// webhooks to them, and reaching them leaks credentials.
var metadataAddrs = map[netip.Addr]bool{
	netip.MustParseAddr("169.254.169.254"): true, // AWS, GCP, Azure, OpenStack
	netip.MustParseAddr("169.254.170.2"):   true, // ECS task metadata
	netip.MustParseAddr("100.100.100.200"): true, // Alibaba
	netip.MustParseAddr("fd00:ec2::254"):   true, // AWS IPv6
}

var metadataHosts = map[string]bool{"metadata.google.internal": true, "metadata": true, "instance-data": true}

// blockedPrefixes are ranges refused unless private targets are allowed,
// beside what netip classifies (loopback, private, link-local,
// unspecified, multicast).
var blockedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"), // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"), // NAT64 of any v4, private included
}

// addrAllowed decides one resolved address.
func addrAllowed(a netip.Addr, allowPrivate bool) bool {
	a = a.Unmap()
	if metadataAddrs[a] {
		return false
	}
	if allowPrivate {
		return true
	}
	if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return false
	}
	for _, p := range blockedPrefixes {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// ValidateURL checks a webhook target: http or https, a host, no
// credentials, at most MaxURLLen bytes, and — unless allowPrivate — no
// literal address or well-known name on a private, loopback, link-local or
// metadata network. Names are checked again at connect time (dialControl),
// so a name that resolves to such an address later is refused then.
func ValidateURL(raw string, allowPrivate bool) error {
	if raw == "" {
		return errors.New("url is required")
	}
	if len(raw) > MaxURLLen {
		return fmt.Errorf("url is longer than %d bytes", MaxURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("url does not parse")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("url must be http or https")
	}
	if u.User != nil {
		return errors.New("url must not carry credentials")
	}
	host := u.Hostname()
	if host == "" {
		return errors.New("url has no host")
	}
	if p := u.Port(); p != "" {
		var n int
		if _, err := fmt.Sscanf(p, "%d", &n); err != nil || n < 1 || n > 65535 {
			return errors.New("url has an invalid port")
		}
	}
	lower := strings.TrimSuffix(strings.ToLower(host), ".")
	if metadataHosts[lower] {
		return ErrPrivateTarget
	}
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		if !addrAllowed(a, allowPrivate) {
			return ErrPrivateTarget
		}
		return nil
	}
	if !allowPrivate && (lower == "localhost" || strings.HasSuffix(lower, ".localhost") ||
		strings.HasSuffix(lower, ".internal") || strings.HasSuffix(lower, ".local")) {
		return ErrPrivateTarget
	}
	return nil
}

// dialControl refuses, at connect time, addresses ValidateURL would have
// refused: a name that resolves to a private address (DNS rebinding)
// never gets a connection.
func dialControl(allowPrivate bool) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("webhooks: dial %s: %w", address, err)
		}
		if !addrAllowed(ap.Addr(), allowPrivate) {
			return fmt.Errorf("%w: %s", ErrPrivateTarget, ap.Addr())
		}
		return nil
	}
}

// safeDialer returns a DialContext for the delivery transport.
func safeDialer(allowPrivate bool) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Control: dialControl(allowPrivate)}
	return d.DialContext
}
