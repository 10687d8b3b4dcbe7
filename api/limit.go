package api

import (
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/or3/syncd/syncerr"
)

// Rate-limit buckets of the sync endpoints (api.md "Running"), counted per
// acting user, and of failed authentication, counted per client IP.
const (
	BucketPush     = "sync:push"
	BucketPull     = "sync:pull"
	BucketSnapshot = "sync:snapshot"
	BucketCursor   = "sync:cursor"
	BucketGC       = "sync:gc"
	BucketAuthFail = "auth:fail"
)

// LimitResult is one rate-limit decision.
type LimitResult struct {
	Allowed    bool
	Limit      int64
	Remaining  int64
	RetryAfter time.Duration // set when not allowed
}

// Limiter is what the HTTP layer needs of the rate limiter (the limits
// package's Buckets, adapted by the daemon).
type Limiter interface {
	// Check counts one request of subject in bucket and decides it. ok is
	// false when the bucket has no limit (nothing was counted).
	Check(bucket, subject string) (res LimitResult, ok bool)
	// Blocked reports, without counting, whether subject has used up
	// bucket's window, and how long until it resets.
	Blocked(bucket, subject string) (blocked bool, retryAfter time.Duration)
}

// retryAfterSeconds rounds a wait up to whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// limitUser applies a sync route's per-user bucket before the handler
// runs (and before the body is read). Every limited answer carries
// X-RateLimit-Limit and X-RateLimit-Remaining (api.md Decisions 10); a
// refused one is 429 RATE_LIMITED with Retry-After. A request without
// X-Syncd-User is left to the handler, which answers 401.
func (s *Server) limitUser(w http.ResponseWriter, r *http.Request, bucket string) bool {
	if s.cfg.Limiter == nil || bucket == "" {
		return true
	}
	user := strings.TrimSpace(r.Header.Get("X-Syncd-User"))
	if user == "" {
		return true
	}
	res, ok := s.cfg.Limiter.Check(bucket, "user:"+user)
	if !ok {
		return true
	}
	w.Header().Set("X-RateLimit-Limit", strconv.FormatInt(res.Limit, 10))
	w.Header().Set("X-RateLimit-Remaining", strconv.FormatInt(res.Remaining, 10))
	if res.Allowed {
		return true
	}
	s.writeError(w, r, syncerr.RateLimited(retryAfterSeconds(res.RetryAfter),
		"rate limit of %s exceeded (%d requests per window); retry after %s", bucket, res.Limit, res.RetryAfter.Round(time.Second)))
	return false
}

// clientIP is the connection's address — for IPv6 its /64, which one
// client usually holds whole, so a guesser cannot get a fresh window per
// address. Forwarding headers are not trusted: syncd listens for its host
// directly.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if a, err := netip.ParseAddr(host); err == nil && a.Is6() && !a.Is4In6() {
		if p, err := a.Prefix(64); err == nil {
			return p.String()
		}
	}
	return host
}

// authBlocked refuses, before the token is even compared, a client IP that
// used up its failed-authentication window: while blocked, a right guess
// would not be told apart from a wrong one, which is what stops token
// guessing. (A host sharing the IP with the guesser waits out the window
// too.)
func (s *Server) authBlocked(w http.ResponseWriter, r *http.Request) bool {
	if s.cfg.Limiter == nil {
		return false
	}
	blocked, retry := s.cfg.Limiter.Blocked(BucketAuthFail, "ip:"+clientIP(r))
	if !blocked {
		return false
	}
	s.writeError(w, r, syncerr.RateLimited(retryAfterSeconds(retry), "too many failed authentication attempts from this address"))
	return true
}

// authFailed counts a failed authentication of the client IP.
func (s *Server) authFailed(r *http.Request) {
	if s.cfg.Limiter != nil {
		s.cfg.Limiter.Check(BucketAuthFail, "ip:"+clientIP(r))
	}
}
