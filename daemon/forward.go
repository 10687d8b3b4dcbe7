package daemon

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/or3/syncd/api"
	"github.com/or3/syncd/blobs"
)

// Peer calls (model.md §6): a region forwards the calls a workspace's home
// region decides to that region's syncd, and fetches the bytes of files
// committed elsewhere from their origin. Both use Config.Peers and the
// service token (every region of a cluster shares it).
const (
	peerDialTimeout = 3 * time.Second  // an unreachable home answers 503 quickly
	peerCallTimeout = 10 * time.Second // one forwarded call or presign round trip
	peerRetryAfter  = 5                // seconds, on the 503 of an unreachable home
)

// peerClient is the HTTP client of peer calls: a short dial timeout so a
// stopped region is noticed at once; the calls bound themselves.
func peerClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: peerDialTimeout, KeepAlive: 30 * time.Second}).DialContext
	tr.MaxIdleConnsPerHost = 16
	return &http.Client{Transport: tr}
}

// newForward is the API's home-region forwarding (nil without peers).
func newForward(cfg Config, peers map[string]string, d *Daemon, client *http.Client) *api.Forward {
	if len(peers) == 0 {
		return nil
	}
	return &api.Forward{
		Region: cfg.Region,
		Peers:  peers,
		Home: func(ctx context.Context, ws string) (string, error) {
			w, err := d.Identity.GetWorkspace(ctx, ws)
			if err != nil || w == nil {
				return "", err
			}
			return w.HomeRegion, nil
		},
		Client:     client,
		Timeout:    peerCallTimeout,
		RetryAfter: peerRetryAfter,
	}
}

// newRemote is the blob gateway's fetch from peer regions: fs backend with
// peers only (S3 is shared by the regions; nil otherwise).
func newRemote(cfg Config, peers map[string]string, client *http.Client) *blobs.Remote {
	if len(peers) == 0 || (cfg.Blob != "" && cfg.Blob != "fs") {
		return nil
	}
	return &blobs.Remote{
		Region:  cfg.Region,
		Peers:   peers,
		Token:   cfg.Token,
		Client:  client,
		Timeout: peerCallTimeout,
	}
}
