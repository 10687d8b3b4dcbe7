package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/or3/syncd/api"
	"github.com/or3/syncd/blobs"
	"github.com/or3/syncd/intents"
	"github.com/or3/syncd/jobs"
	"github.com/or3/syncd/syncerr"
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
		Region:     cfg.Region,
		Peers:      peers,
		Home:       d.homeOf,
		JobHome:    (&jobHomes{d: d, region: cfg.Region, peers: peers, token: cfg.Token, client: client, known: map[string]string{}}).home,
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

// homeOf is the home region of a workspace known here ("" when unknown).
func (d *Daemon) homeOf(ctx context.Context, ws string) (string, error) {
	w, err := d.Identity.GetWorkspace(ctx, ws)
	if err != nil || w == nil {
		return "", err
	}
	return w.HomeRegion, nil
}

// homeIntents is the storage gateway's upload intents with quota decided
// by the workspace's home region (model.md §6): for a workspace homed
// elsewhere, presign-upload's reservation and commit's consumption are
// the home region's /v1/sync/upload-intents/reserve and /consume, called
// with the service token and the acting user. The bytes stay in this
// region's store (the file's origin, where other regions fetch them).
// Intents do not replicate, so the intents this region reserved at
// another home are remembered here until they expire, for commit's
// check; an intent this region did not reserve (or reserved before a
// restart) is unknown here: the client presigns again.
type homeIntents struct {
	local  blobs.Intents
	region string
	peers  map[string]string
	token  string
	client *http.Client
	home   func(ctx context.Context, ws string) (string, error)

	mu       sync.Mutex
	reserved map[string]blobs.Intent // by intent id
}

func newHomeIntents(cfg Config, local blobs.Intents, home func(context.Context, string) (string, error)) blobs.Intents {
	if len(cfg.Peers) == 0 {
		return local
	}
	return &homeIntents{local: local, region: cfg.Region, peers: cfg.Peers, token: cfg.Token, client: peerClient(),
		home: home, reserved: map[string]blobs.Intent{}}
}

// peer returns the base URL of ws's home region, or "" when this region
// decides (home here, or the workspace unknown here).
func (h *homeIntents) peer(ctx context.Context, ws string) (string, string, error) {
	home, err := h.home(ctx, ws)
	if err != nil || home == "" || home == h.region {
		return "", "", err
	}
	base, ok := h.peers[home]
	if !ok {
		return "", "", syncerr.Unavailable(nil, "the home region %s of this workspace is not a configured peer", home)
	}
	return home, base, nil
}

// call POSTs body to the home region and decodes a 200 answer into out;
// any other answer becomes the home region's error, an unreachable home
// 503.
func (h *homeIntents) call(ctx context.Context, home, base, path, user string, body, out any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return syncerr.Internal(err, "encode")
	}
	ctx, cancel := context.WithTimeout(ctx, peerCallTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(base, "/")+path, bytes.NewReader(raw))
	if err != nil {
		return syncerr.Internal(err, "forward")
	}
	req.Header.Set("Authorization", "Bearer "+h.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Syncd-User", user)
	req.Header.Set(api.ForwardedHeader, h.region)
	resp, err := h.client.Do(req)
	if err != nil {
		e := syncerr.Unavailable(err, "the home region %s of this workspace is unreachable, retry later", home)
		e.RetryAfterSeconds = peerRetryAfter
		return e
	}
	defer func() { _ = resp.Body.Close() }() // read-only
	ans, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return syncerr.Unavailable(err, "the home region %s of this workspace did not answer, retry later", home)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		_ = json.Unmarshal(ans, &e)
		return &syncerr.Error{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
	}
	if err := json.Unmarshal(ans, out); err != nil {
		return syncerr.Unavailable(err, "the home region %s of this workspace answered %s with something else than an intent", home, path)
	}
	return nil
}

func (h *homeIntents) Reserve(ctx context.Context, user string, r blobs.Reservation) (blobs.Intent, error) {
	home, base, err := h.peer(ctx, r.WorkspaceID)
	if err != nil || base == "" {
		if err != nil {
			return blobs.Intent{}, err
		}
		return h.local.Reserve(ctx, user, r)
	}
	body := map[string]any{"workspaceId": r.WorkspaceID, "hash": r.Hash, "mimeType": r.MimeType,
		"sizeBytes": r.SizeBytes, "expiresAt": r.ExpiresAt}
	if r.IntentID != "" {
		body["intentId"] = r.IntentID
	}
	if r.WorkspaceQuotaBytes != nil {
		body["workspaceQuotaBytes"] = *r.WorkspaceQuotaBytes
	}
	var in intents.Intent
	if err := h.call(ctx, home, base, "/v1/sync/upload-intents/reserve", user, body, &in); err != nil {
		return blobs.Intent{}, err
	}
	out := intentOf(in)
	h.mu.Lock()
	now := time.Now().Unix()
	for id, x := range h.reserved { // forget the expired ones
		if x.ExpiresAt < now {
			delete(h.reserved, id)
		}
	}
	h.reserved[out.IntentID] = out
	h.mu.Unlock()
	return out, nil
}

func (h *homeIntents) Get(ctx context.Context, ws, id string) (blobs.Intent, error) {
	_, base, err := h.peer(ctx, ws)
	if err != nil || base == "" {
		if err != nil {
			return blobs.Intent{}, err
		}
		return h.local.Get(ctx, ws, id)
	}
	h.mu.Lock()
	in, ok := h.reserved[id]
	h.mu.Unlock()
	if !ok || in.WorkspaceID != ws {
		return blobs.Intent{}, syncerr.NotFound("Upload intent not found")
	}
	return in, nil
}

func (h *homeIntents) Consume(ctx context.Context, user string, c blobs.Consumption) error {
	home, base, err := h.peer(ctx, c.WorkspaceID)
	if err != nil || base == "" {
		if err != nil {
			return err
		}
		return h.local.Consume(ctx, user, c)
	}
	var in intents.Intent
	if err := h.call(ctx, home, base, "/v1/sync/upload-intents/consume", user, map[string]any{
		"workspaceId": c.WorkspaceID, "intentId": c.IntentID, "hash": c.Hash, "mimeType": c.MimeType,
		"sizeBytes": c.SizeBytes, "storageId": c.StorageID,
	}, &in); err != nil {
		return err
	}
	h.mu.Lock()
	delete(h.reserved, c.IntentID)
	h.mu.Unlock()
	return nil
}

// jobHomes finds the home region of a background job: jobs do not
// replicate and name no workspace, so a job lives only in the region that
// created it (model.md §6: "jobs: of the job"). A job not in this log is
// looked up with the peers' jobs.getJobInternal, and the answer is kept
// (a job never moves).
type jobHomes struct {
	d      *Daemon
	region string
	peers  map[string]string
	token  string
	client *http.Client

	mu    sync.Mutex
	known map[string]string // job id → its home region (a peer)
}

// maxKnownJobs bounds jobHomes.known (it starts over when full).
const maxKnownJobs = 10000

// home returns the peer holding job id, "" when it is here or in no
// reachable region, or an error when it is in none of the regions that
// answered but some could not be asked.
func (j *jobHomes) home(ctx context.Context, id string) (string, error) {
	if id == "" || len(id) > 256 {
		return "", nil // the local store refuses it
	}
	if v := j.d.DB.View(); v != nil {
		raw, err := v.Get(jobs.JobKey(id))
		v.Release()
		if err == nil && raw != nil {
			return "", nil // here: its home
		}
	}
	j.mu.Lock()
	home, ok := j.known[id]
	j.mu.Unlock()
	if ok {
		return home, nil
	}
	peers := make([]string, 0, len(j.peers))
	for p := range j.peers {
		if p != j.region {
			peers = append(peers, p)
		}
	}
	slices.Sort(peers)
	var unreachable error
	for _, p := range peers {
		found, err := j.ask(ctx, p, id)
		if err != nil {
			unreachable = err
			continue
		}
		if found {
			j.mu.Lock()
			if len(j.known) >= maxKnownJobs {
				clear(j.known)
			}
			j.known[id] = p
			j.mu.Unlock()
			return p, nil
		}
	}
	return "", unreachable
}

// ask reports whether peer holds job id (its jobs.getJobInternal).
func (j *jobHomes) ask(ctx context.Context, peer, id string) (bool, error) {
	raw, _ := json.Marshal([]string{id})
	ctx, cancel := context.WithTimeout(ctx, peerCallTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(j.peers[peer], "/")+"/v1/rpc/jobs.getJobInternal", bytes.NewReader(raw))
	if err != nil {
		return false, err
	}
	req.Header.Set("Authorization", "Bearer "+j.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(api.ForwardedHeader, j.region)
	resp, err := j.client.Do(req)
	if err != nil {
		return false, err
	}
	defer func() { _ = resp.Body.Close() }() // read-only
	var ans struct {
		Result json.RawMessage `json:"result"`
	}
	if resp.StatusCode != http.StatusOK {
		return false, nil // refused the id: not there
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&ans); err != nil {
		return false, err
	}
	return len(ans.Result) > 0 && string(ans.Result) != "null", nil
}
