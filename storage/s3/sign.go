package s3

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/or3/syncd/storage"
)

// The two requests of every small-file flow, presign-upload's URL and
// commit's HEAD, are signed here with AWS Signature V4 (the algorithm
// minio-go's signer implements) instead of through minio-go's generic
// request path: the signing key is derived once a day rather than per
// request, and the canonical request is built from the few fixed parts
// these two requests have (keys are [0-9a-z/] only, so nothing needs
// escaping). Everything else goes through minio-go.

const (
	sigAlgorithm = "AWS4-HMAC-SHA256"
	amzDate      = "20060102T150405Z"
	amzDay       = "20060102"
	// emptySHA256 is the hex SHA-256 of no bytes: a HEAD's payload.
	emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// signer signs requests for one bucket of one endpoint.
type signer struct {
	access, secret, region string
	scheme, host           string // host as signed: the port only when not the scheme's default
	pathStyle              bool
	bucket                 string

	mu  sync.Mutex
	day string // the day key was derived for
	key []byte
}

func newSigner(cfg Config, region string) *signer {
	s := &signer{access: cfg.AccessKey, secret: cfg.SecretKey, region: region, scheme: "http",
		host: cfg.Endpoint, pathStyle: cfg.PathStyle, bucket: cfg.Bucket}
	if cfg.Secure {
		s.scheme = "https"
	}
	if h, p, ok := strings.Cut(s.host, ":"); ok && (p == "80" && !cfg.Secure || p == "443" && cfg.Secure) {
		s.host = h // as minio-go (and the object store) see it
	}
	if !cfg.PathStyle {
		s.host = cfg.Bucket + "." + s.host
	}
	return s
}

// signingKey is the day's derived key.
func (s *signer) signingKey(day string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.day != day {
		k := hmacSHA256([]byte("AWS4"+s.secret), day)
		k = hmacSHA256(k, s.region)
		k = hmacSHA256(k, "s3")
		s.key, s.day = hmacSHA256(k, "aws4_request"), day
	}
	return s.key
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

// path is the object's URL path.
func (s *signer) path(key string) string {
	if s.pathStyle {
		return "/" + s.bucket + "/" + key
	}
	return "/" + key
}

// signature signs a canonical request made at t.
func (s *signer) signature(t time.Time, canonical string) string {
	day := t.Format(amzDay)
	sum := sha256.Sum256([]byte(canonical))
	sts := sigAlgorithm + "\n" + t.Format(amzDate) + "\n" + day + "/" + s.region + "/s3/aws4_request\n" + hex.EncodeToString(sum[:])
	return hex.EncodeToString(hmacSHA256(s.signingKey(day), sts))
}

// presign is the URL that lets its bearer send method to key until t+ttl
// with the headers named (lower-case name → value; host is added), all
// signed.
func (s *signer) presign(method, key string, t time.Time, ttl time.Duration, hdr map[string]string) string {
	t = t.UTC()
	names := make([]string, 0, len(hdr)+1)
	names = append(names, "host")
	for k := range hdr {
		names = append(names, k)
	}
	sortStrings(names)
	signed := strings.Join(names, ";")
	var canonHdr strings.Builder
	for _, k := range names {
		v := s.host
		if k != "host" {
			v = strings.Join(strings.Fields(hdr[k]), " ") // SigV4's trimall
		}
		canonHdr.WriteString(k + ":" + v + "\n")
	}
	// Query parameters in sorted order (the canonical query string).
	q := "X-Amz-Algorithm=" + sigAlgorithm +
		"&X-Amz-Credential=" + url.QueryEscape(s.access+"/"+t.Format(amzDay)+"/"+s.region+"/s3/aws4_request") +
		"&X-Amz-Date=" + t.Format(amzDate) +
		"&X-Amz-Expires=" + strconv.FormatInt(int64(ttl/time.Second), 10) +
		"&X-Amz-SignedHeaders=" + url.QueryEscape(signed)
	path := s.path(key)
	canonical := method + "\n" + path + "\n" + q + "\n" + canonHdr.String() + "\n" + signed + "\nUNSIGNED-PAYLOAD"
	return s.scheme + "://" + s.host + path + "?" + q + "&X-Amz-Signature=" + s.signature(t, canonical)
}

// headRequest is a signed HEAD of key asking for the object's checksum.
func (s *signer) headRequest(ctx context.Context, key string, t time.Time) (*http.Request, error) {
	t = t.UTC()
	path := s.path(key)
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, s.scheme+"://"+s.host+path, nil)
	if err != nil {
		return nil, err
	}
	date := t.Format(amzDate)
	const signed = "host;x-amz-checksum-mode;x-amz-content-sha256;x-amz-date"
	canonical := http.MethodHead + "\n" + path + "\n\nhost:" + s.host + "\nx-amz-checksum-mode:ENABLED\nx-amz-content-sha256:" + emptySHA256 +
		"\nx-amz-date:" + date + "\n\n" + signed + "\n" + emptySHA256
	req.Header["X-Amz-Checksum-Mode"] = []string{"ENABLED"}
	req.Header["X-Amz-Content-Sha256"] = []string{emptySHA256}
	req.Header["X-Amz-Date"] = []string{date}
	req.Header["Authorization"] = []string{sigAlgorithm + " Credential=" + s.access + "/" + t.Format(amzDay) + "/" + s.region +
		"/s3/aws4_request, SignedHeaders=" + signed + ", Signature=" + s.signature(t, canonical)}
	return req, nil
}

func sortStrings(a []string) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// retryableStatus: answers minio-go retries too.
func retryableStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, 499, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout, 520:
		return true
	}
	return false
}

// head stats key with one signed HEAD (checksum mode), retrying as
// minio-go does (up to maxRetries attempts, exponential backoff from
// 200 ms capped at 1 s, with jitter) on transport errors and on the
// statuses it retries.
func (s *Store) head(ctx context.Context, key string) (storage.Object, error) {
	var lastErr error
	for attempt := 0; attempt < s.maxRetries; attempt++ {
		if attempt > 0 {
			wait := min(minio.DefaultRetryUnit<<(attempt-1), minio.DefaultRetryCap)
			wait -= time.Duration(rand.Float64() * float64(wait)) // full jitter, as minio-go
			tm := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				tm.Stop()
				return storage.Object{}, fmt.Errorf("storage/s3: %s: %w", key, errors.Join(ctx.Err(), lastErr))
			case <-tm.C:
			}
		}
		req, err := s.sig.headRequest(ctx, key, time.Now())
		if err != nil {
			return storage.Object{}, fmt.Errorf("storage/s3: %s: %w", key, err)
		}
		resp, err := s.http.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return storage.Object{}, fmt.Errorf("storage/s3: %s: %w", key, err)
			}
			lastErr = err
			continue
		}
		_ = resp.Body.Close() // a HEAD answer has no body
		switch {
		case resp.StatusCode == http.StatusOK:
			return headObject(key, resp), nil
		case resp.StatusCode == http.StatusNotFound:
			return storage.Object{}, fmt.Errorf("%w: %s", storage.ErrNotFound, key)
		case retryableStatus(resp.StatusCode):
			lastErr = fmt.Errorf("HEAD answered %s", resp.Status)
			continue
		}
		return storage.Object{}, fmt.Errorf("storage/s3: %s: HEAD answered %s", key, resp.Status)
	}
	return storage.Object{}, fmt.Errorf("storage/s3: %s: %w", key, lastErr)
}

// headObject reads a HEAD answer: size, type and the SHA-256 the store
// verified at upload, when it recorded one for the whole object.
func headObject(key string, resp *http.Response) storage.Object {
	obj := storage.Object{Key: key, Size: resp.ContentLength, ContentType: resp.Header.Get("Content-Type")}
	if obj.Size < 0 {
		obj.Size, _ = strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64)
	}
	typ := resp.Header.Get("X-Amz-Checksum-Type")
	if sum := resp.Header.Get("X-Amz-Checksum-Sha256"); sum != "" && (typ == "" || strings.EqualFold(typ, minio.ChecksumFullObjectMode.String())) {
		if d, err := base64.StdEncoding.DecodeString(sum); err == nil && len(d) == 32 {
			obj.SHA256 = d
		}
	}
	return obj
}
