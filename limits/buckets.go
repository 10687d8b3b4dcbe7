package limits

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Rule is one bucket's limit: at most Max requests per Window per subject.
type Rule struct {
	Max    int64
	Window time.Duration
}

// The buckets syncd limits on its own endpoints (api.md "Running"), per
// user, and the per-IP bucket of failed authentication.
const (
	BucketPush     = "sync:push"
	BucketPull     = "sync:pull"
	BucketSnapshot = "sync:snapshot"
	BucketCursor   = "sync:cursor"
	BucketGC       = "sync:gc"
	BucketAuthFail = "auth:fail"
)

// DefaultRules are generous per-user limits: far above anything an OR3
// client does (it pushes a few batches a second at most and pulls on
// wake-up) and above what one user reaches in syncd's own load benchmarks,
// yet a runaway loop hammering one user's endpoint at full speed is cut
// off. Failed authentication is limited per IP, against token guessing.
func DefaultRules() map[string]Rule {
	return map[string]Rule{
		BucketPush:     {Max: 60_000, Window: time.Minute},
		BucketPull:     {Max: 60_000, Window: time.Minute},
		BucketSnapshot: {Max: 6_000, Window: time.Minute},
		BucketCursor:   {Max: 60_000, Window: time.Minute},
		BucketGC:       {Max: 600, Window: time.Minute},
		BucketAuthFail: {Max: 30, Window: time.Minute},
	}
}

// SyncBuckets are the bucket names --rate-limit accepts.
var SyncBuckets = []string{BucketPush, BucketPull, BucketSnapshot, BucketCursor, BucketGC}

// ParseRule parses "BUCKET=N/WINDOW" (e.g. "sync:push=3/60s").
func ParseRule(v string) (bucket string, r Rule, err error) {
	bucket, rest, ok := strings.Cut(strings.TrimSpace(v), "=")
	n, window, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 {
		return "", Rule{}, fmt.Errorf("%q: want BUCKET=N/WINDOW, e.g. sync:push=3/60s", v)
	}
	known := false
	for _, b := range SyncBuckets {
		known = known || b == bucket
	}
	if !known {
		names := append([]string(nil), SyncBuckets...)
		sort.Strings(names)
		return "", Rule{}, fmt.Errorf("%q: unknown bucket %q (one of %s)", v, bucket, strings.Join(names, ", "))
	}
	c, err := strconv.ParseInt(n, 10, 64)
	if err != nil || c < 1 || c > maxSafeInt {
		return "", Rule{}, fmt.Errorf("%q: N must be a positive integer", v)
	}
	d, err := time.ParseDuration(window)
	if err != nil || d < time.Millisecond {
		return "", Rule{}, fmt.Errorf("%q: WINDOW must be a positive duration such as 60s", v)
	}
	return bucket, Rule{Max: c, Window: d}, nil
}

// Buckets applies named rules to subjects: the key of (bucket, subject) is
// "bucket:subject", so syncd's own windows sit beside the host's keys
// (which are "daily:user:<id>" and the like) without meeting them.
type Buckets struct {
	l     *Limiter
	rules map[string]Rule
}

// NewBuckets returns rules applied through l. A bucket without a rule is
// not limited.
func NewBuckets(l *Limiter, rules map[string]Rule) *Buckets {
	cp := make(map[string]Rule, len(rules))
	for k, v := range rules {
		cp[k] = v
	}
	return &Buckets{l: l, rules: cp}
}

// Rule returns bucket's rule.
func (b *Buckets) Rule(bucket string) (Rule, bool) { r, ok := b.rules[bucket]; return r, ok }

func bucketKey(bucket, subject string) string {
	k := "syncd:" + bucket + ":" + subject
	if len(k) > MaxKeyLen {
		k = k[:MaxKeyLen]
	}
	return k
}

// Check counts one request of subject in bucket. ok is false when the
// bucket has no rule (nothing was counted).
func (b *Buckets) Check(bucket, subject string) (res Result, ok bool) {
	r, ok := b.rules[bucket]
	if !ok {
		return Result{}, false
	}
	res, err := b.l.CheckAndRecord(bucketKey(bucket, subject), r.Window.Milliseconds(), r.Max)
	if err != nil {
		// Only a bad rule can fail, and rules are validated: fail open.
		return Result{Allowed: true, Remaining: r.Max, Limit: r.Max}, true
	}
	return res, true
}

// Blocked reports whether subject has used up bucket's window, without
// counting, and how long until it resets.
func (b *Buckets) Blocked(bucket, subject string) (blocked bool, retryAfter time.Duration) {
	r, ok := b.rules[bucket]
	if !ok {
		return false, 0
	}
	st, err := b.l.GetStats(bucketKey(bucket, subject), r.Window.Milliseconds(), r.Max)
	if err != nil || st.Remaining > 0 {
		return false, 0
	}
	return true, time.Duration(st.ResetMs) * time.Millisecond
}
