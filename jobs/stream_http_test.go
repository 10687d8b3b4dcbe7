package jobs_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/or3/syncd/daemon"
	"github.com/or3/syncd/jobs"
	synclog "github.com/or3/syncd/log"
)

const token = "test-token-0123456789abcdef"

func startDaemon(t testing.TB) *daemon.Daemon {
	t.Helper()
	d, err := daemon.New(daemon.Config{
		DataDir: t.TempDir(), Listen: "127.0.0.1:0", Token: token,
		Secret:  []byte("0123456789abcdef0123456789abcdef"),
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		TuneLog: func(c *synclog.Config) { c.MemTableSize = 4 << 20; c.CacheSize = 4 << 20 },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Shutdown(context.Background()) })
	return d
}

func rpc(t testing.TB, d *daemon.Daemon, call string, args ...any) (json.RawMessage, int) {
	t.Helper()
	if args == nil {
		args = []any{}
	}
	body, _ := json.Marshal(args)
	req, _ := http.NewRequest("POST", d.URL()+"/v1/rpc/"+call, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env struct {
		Result json.RawMessage `json:"result"`
	}
	json.NewDecoder(resp.Body).Decode(&env)
	return env.Result, resp.StatusCode
}

type sseEvent struct {
	id, event, data string
}

// openSSE opens the job stream; events arrive on the channel until the
// stream ends.
func openSSE(t testing.TB, ctx context.Context, d *daemon.Daemon, id, user, lastID string) (<-chan sseEvent, int) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/v1/jobs/%s/stream?userId=%s&offset=0", d.URL(), id, user), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		resp.Body.Close()
		return nil, resp.StatusCode
	}
	ch := make(chan sseEvent, 1024)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.data != "" {
					ch <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.event = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.data = line[6:]
			}
		}
	}()
	return ch, 200
}

// A viewer streaming over real HTTP sees every chunk exactly once, in
// order, including across a reconnect in the middle of the generation, and
// ends with done. Foreign and unknown jobs are 404.
func TestJobStream_HTTPEveryChunkOnce(t *testing.T) {
	d := startDaemon(t)
	res, code := rpc(t, d, "jobs.createJob", map[string]any{"userId": "u1", "threadId": "t", "messageId": "m", "model": "x", "execution": map[string]any{"v": 1}})
	if code != 200 {
		t.Fatal(code, string(res))
	}
	var id string
	json.Unmarshal(res, &id)

	if _, code := openSSE(t, context.Background(), d, id, "u2", ""); code != 404 {
		t.Fatalf("foreign user: %d", code)
	}
	if _, code := openSSE(t, context.Background(), d, "nope", "u1", ""); code != 404 {
		t.Fatalf("unknown job: %d", code)
	}

	const n = 200
	var want strings.Builder
	chunks := make([]string, n)
	for i := range chunks {
		chunks[i] = fmt.Sprintf("chunk %d, ünïcode \"quoted\"\n", i)
		want.WriteString(chunks[i])
	}
	go func() {
		for i, c := range chunks {
			if _, err := d.Jobs.UpdateJob(context.Background(), id, jobs.UpdateInput{ContentChunk: &c}); err != nil {
				t.Error(err)
			}
			if i%50 == 0 {
				time.Sleep(5 * time.Millisecond)
			}
		}
		d.Jobs.CompleteJob(context.Background(), id, want.String(), nil)
	}()

	var got strings.Builder
	lastID := ""
	ctx, cancel := context.WithCancel(context.Background())
	ch, _ := openSSE(t, ctx, d, id, "u1", "")
	status := ""
	reconnected := false
	for status == "" {
		ev, ok := <-ch
		if !ok {
			t.Fatal("stream ended without done")
		}
		if ev.event == "done" {
			status = ev.data
			break
		}
		var p struct {
			Offset  int64  `json:"offset"`
			Content string `json:"content"`
		}
		if err := json.Unmarshal([]byte(ev.data), &p); err != nil {
			t.Fatal(err, ev.data)
		}
		if p.Offset != int64(got.Len()) {
			t.Fatalf("gap or repeat: event at %d, have %d", p.Offset, got.Len())
		}
		got.WriteString(p.Content)
		if ev.id != strconv.Itoa(got.Len()) {
			t.Fatalf("id %s after %d bytes", ev.id, got.Len())
		}
		lastID = ev.id
		if !reconnected && got.Len() > want.Len()/3 {
			// Drop the connection mid-generation and resume.
			cancel()
			for range ch {
			}
			ctx, cancel = context.WithCancel(context.Background())
			ch, _ = openSSE(t, ctx, d, id, "u1", lastID)
			reconnected = true
		}
	}
	cancel()
	if status != `{"status":"complete"}` {
		t.Fatalf("done %s", status)
	}
	if got.String() != want.String() {
		t.Fatalf("content differs: %d vs %d bytes", got.Len(), want.Len())
	}
	// A finished job streams from any offset, then done.
	ch, _ = openSSE(t, context.Background(), d, id, "u1", "10")
	ev := <-ch
	if !strings.Contains(ev.data, `"offset":10`) || ev.id != strconv.Itoa(want.Len()) {
		t.Fatalf("%+v", ev)
	}
	if ev = <-ch; ev.event != "done" {
		t.Fatalf("%+v", ev)
	}
}

// The RPC store over HTTP: admission refused is 429 with Retry-After, a
// lost lease 409, an unknown job 404, bad arguments 400 (api.md Decisions 4).
func TestJobsRPC_HTTPStatuses(t *testing.T) {
	d := startDaemon(t)
	create := func(user string) (string, int) {
		res, code := rpc(t, d, "jobs.createJob", map[string]any{"userId": user, "threadId": "t", "messageId": "m", "model": "x", "execution": map[string]any{}})
		var id string
		json.Unmarshal(res, &id)
		return id, code
	}
	id, _ := create("u1")
	for i := 0; i < 4; i++ {
		create("u1")
	}
	body, _ := json.Marshal([]any{map[string]any{"userId": "u1", "threadId": "t", "messageId": "m", "model": "x"}})
	req, _ := http.NewRequest("POST", d.URL()+"/v1/rpc/jobs.createJob", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("admission: %d %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	now := time.Now().UnixMilli()
	if _, code := rpc(t, d, "jobs.claimJob", id, "w1", now, now+60000); code != 200 {
		t.Fatal(code)
	}
	if _, code := rpc(t, d, "jobs.updateJob", id, map[string]any{"contentChunk": "x", "leaseOwner": "w2"}); code != 409 {
		t.Fatalf("foreign lease: %d", code)
	}
	if _, code := rpc(t, d, "jobs.updateJob", "nope", map[string]any{"contentChunk": "x"}); code != 404 {
		t.Fatalf("unknown job: %d", code)
	}
	if _, code := rpc(t, d, "jobs.claimJob", id, "w1", -5, 10); code != 400 {
		t.Fatalf("negative now: %d", code)
	}
	if _, code := rpc(t, d, "jobs.nope"); code != 404 {
		t.Fatalf("unknown method: %d", code)
	}
	if res, code := rpc(t, d, "jobs.getJob", id, "u1"); code != 200 || !strings.Contains(string(res), `"leaseOwner":"w1"`) {
		t.Fatalf("%d %s", code, res)
	}
}

// The daemon's FolderMux replays jobs (and the notifications they emit)
// into state equal to the live one.
func TestDaemonReplay_JobsAndNotifications(t *testing.T) {
	d := startDaemon(t)
	ctx := context.Background()
	for i := 0; i < 4; i++ {
		res, _ := rpc(t, d, "jobs.createJob", map[string]any{"userId": "u1", "threadId": "t", "messageId": fmt.Sprint(i), "model": "x", "execution": map[string]any{"contentBase": "b"}})
		var id string
		json.Unmarshal(res, &id)
		now := time.Now().UnixMilli()
		rpc(t, d, "jobs.claimJob", id, "w", now, now+60000)
		rpc(t, d, "jobs.updateJob", id, map[string]any{"contentChunk": "chunk", "leaseOwner": "w", "tool_calls": []any{map[string]any{"name": "x", "status": "loading"}}})
		switch i {
		case 0:
			rpc(t, d, "jobs.completeJob", id, "done", "w")
		case 1:
			rpc(t, d, "jobs.failJob", id, "boom", "w")
		case 2:
			rpc(t, d, "jobs.abortJob", id, "u1")
		}
	}
	res, _ := rpc(t, d, "auth.getOrCreateUser", map[string]any{"provider": "basic", "providerUserId": "alice"})
	var u struct{ UserID string }
	json.Unmarshal(res, &u)
	res, _ = rpc(t, d, "auth.getOrCreateDefaultWorkspace", u.UserID)
	var w struct{ WorkspaceID string }
	json.Unmarshal(res, &w)
	if _, code := rpc(t, d, "notifications.emitBackgroundJobComplete", w.WorkspaceID, u.UserID, "t", "job-1", "m"); code != 200 {
		t.Fatal(code)
	}
	if _, code := rpc(t, d, "notifications.emitBackgroundJobError", w.WorkspaceID, u.UserID, "t", "job-2", "boom"); code != 200 {
		t.Fatal(code)
	}
	v := d.DB.View()
	defer v.Release()
	dst, err := synclog.Open(synclog.Config{Dir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if err := synclog.Rebuild(ctx, v, dst, d.Folder, 5); err != nil {
		t.Fatal(err)
	}
	dv := dst.View()
	defer dv.Release()
	if diff, err := synclog.DiffState(v, dv); err != nil || diff != "" {
		t.Fatalf("replay differs: %s %v", diff, err)
	}
}
