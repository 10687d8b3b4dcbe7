package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/or3/syncd/admin"
	"github.com/or3/syncd/daemon"
	synclog "github.com/or3/syncd/log"
	"github.com/schollz/progressbar/v3"
)

// Exit codes of `syncd admin` that scripts can rely on.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

const adminUsage = `usage: syncd admin [--url URL] [--token TOKEN] [--json] COMMAND

Talks to a running syncd (--url or SYNCD_URL, default http://127.0.0.1:7420;
--token or SYNCD_TOKEN, or the token file of --data-dir), or opens a stopped
data dir where that is safe (restore; verify --data-dir).

commands:
  status                         log, workspaces, GC backlog, storage, version
  gc [--workspace W] [--retention SECONDS] [--tombstones|--storage|--all]
                                 collect history (change log by default)
  backup DIR | S3URL             consistent online backup into DIR (on the server's host), or
                                 uploaded by the server to S3URL =
                                 s3://bucket/prefix?endpoint=host:port[&secure=false]
                                 (the server's SYNCD_S3_ACCESS_KEY / SYNCD_S3_SECRET_KEY)
  restore DIR|S3URL --data-dir NEW
                                 restore a backup into a new, empty data dir (offline; for
                                 S3URL with SYNCD_S3_ACCESS_KEY / SYNCD_S3_SECRET_KEY here)
  verify [--data-dir D]          check state against the log (online, or offline on a stopped dir)
  users [QUERY]                  list deployment admins, or search users
  users grant|revoke USER_ID     grant or revoke deployment admin
  workspaces [--search S] [--deleted] [--page N] [--per-page N]
  audit [--limit N] [--action A] [--target ID] [--before SEQ]

A backup is complete only once its manifest.json is written, last (on S3
with every file's SHA-256, checked by restore): an interrupted backup is
never restored.

exit status: 0 ok, 1 failure, 2 usage error
`

type adminCLI struct {
	url, token string
	json       bool
	dataDir    string
	getenv     func(string) string
	stdout     io.Writer
	stderr     io.Writer
	client     *http.Client
}

// runAdmin is `syncd admin …`.
func runAdmin(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	c := &adminCLI{stdout: stdout, stderr: stderr, client: &http.Client{}, getenv: getenv}
	fs := flag.NewFlagSet("syncd admin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, adminUsage) }
	fs.StringVar(&c.url, "url", envOr(getenv, "SYNCD_URL", "http://127.0.0.1:7420"), "syncd base URL")
	fs.StringVar(&c.token, "token", getenv("SYNCD_TOKEN"), "service token")
	fs.StringVar(&c.dataDir, "data-dir", getenv("SYNCD_DATA_DIR"), "data dir (token file; offline verify)")
	fs.BoolVar(&c.json, "json", false, "machine-readable output")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fmt.Fprint(stderr, adminUsage)
		return exitUsage
	}
	cmd, cargs := rest[0], rest[1:]
	var err error
	switch cmd {
	case "status":
		err = c.status(ctx, cargs)
	case "gc":
		err = c.gc(ctx, cargs)
	case "backup":
		err = c.backup(ctx, cargs)
	case "restore":
		err = c.restore(ctx, cargs)
	case "verify":
		err = c.verify(ctx, cargs)
	case "users":
		err = c.users(ctx, cargs)
	case "workspaces":
		err = c.workspaces(ctx, cargs)
	case "audit":
		err = c.audit(ctx, cargs)
	case "help":
		fmt.Fprint(stdout, adminUsage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "syncd admin: unknown command %q\n\n%s", cmd, adminUsage)
		return exitUsage
	}
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "syncd admin %s: %v\n", cmd, err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "syncd admin %s: %v\n", cmd, err)
		return exitFailure
	}
}

type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

func envOr(getenv func(string) string, k, def string) string {
	if v := getenv(k); v != "" {
		return v
	}
	return def
}

func (c *adminCLI) tokenOrFile() (string, error) {
	if c.token != "" {
		return c.token, nil
	}
	if c.dataDir != "" {
		if b, err := os.ReadFile(filepath.Join(c.dataDir, tokenFile)); err == nil {
			return strings.TrimSpace(string(b)), nil
		}
	}
	return "", usagef("a service token is required (--token, SYNCD_TOKEN, or --data-dir with a token file)")
}

// apiError is a failure answer of the daemon.
type apiError struct {
	Status  int    `json:"status"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// do sends one request and decodes the JSON answer into out.
func (c *adminCLI) do(ctx context.Context, method, path string, body any, out any) error {
	tok, err := c.tokenOrFile()
	if err != nil {
		return err
	}
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.url, "/")+path, rd)
	if err != nil {
		return usagef("bad --url: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("X-Syncd-Admin", "cli:"+os.Getenv("USER"))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var eb struct {
			Error apiError `json:"error"`
		}
		if json.Unmarshal(data, &eb) == nil && eb.Error.Code != "" {
			if eb.Error.Status == 0 {
				eb.Error.Status = resp.StatusCode
			}
			return &eb.Error
		}
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(data))
	}
	return json.Unmarshal(data, out)
}

// rpc calls /v1/rpc/{call} and decodes the result.
func (c *adminCLI) rpc(ctx context.Context, call string, args []any, out any) error {
	var env struct {
		OK     bool            `json:"ok"`
		Result json.RawMessage `json:"result"`
	}
	if err := c.do(ctx, http.MethodPost, "/v1/rpc/"+call, args, &env); err != nil {
		return err
	}
	return json.Unmarshal(env.Result, out)
}

// action runs an admin action with a progress bar (NDJSON progress lines).
func (c *adminCLI) action(ctx context.Context, id string, params any, out any) error {
	tok, err := c.tokenOrFile()
	if err != nil {
		return err
	}
	data, _ := json.Marshal(params)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.url, "/")+"/v1/admin/actions/"+id, bytes.NewReader(data))
	if err != nil {
		return usagef("bad --url: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/x-ndjson")
	req.Header.Set("X-Syncd-Admin", "cli:"+os.Getenv("USER"))
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var eb struct {
			Error apiError `json:"error"`
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if json.Unmarshal(body, &eb) == nil && eb.Error.Code != "" {
			return &eb.Error
		}
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(body))
	}
	bar := newBar(c.stderr, id)
	defer bar.finish()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var line struct {
			Phase  string          `json:"phase"`
			Done   int64           `json:"done"`
			Total  int64           `json:"total"`
			OK     *bool           `json:"ok"`
			Result json.RawMessage `json:"result"`
			Error  *apiError       `json:"error"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return fmt.Errorf("bad progress line: %v", err)
		}
		if line.OK == nil {
			bar.set(line.Phase, line.Done, line.Total)
			continue
		}
		bar.finish()
		if !*line.OK {
			if line.Error == nil {
				return errors.New("action failed")
			}
			return line.Error
		}
		return json.Unmarshal(line.Result, out)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return errors.New("the daemon ended the action's answer early")
}

// bar is a progress bar with rate and ETA on stderr.
type bar struct {
	w     io.Writer
	b     *progressbar.ProgressBar
	phase string
	total int64
}

func newBar(w io.Writer, desc string) *bar { return &bar{w: w, phase: desc} }

func (b *bar) set(phase string, done, total int64) {
	if b.b == nil || phase != b.phase || total != b.total {
		if b.b != nil {
			_ = b.b.Finish()
		}
		opts := []progressbar.Option{
			progressbar.OptionSetWriter(b.w), progressbar.OptionSetDescription(phase),
			progressbar.OptionShowCount(), progressbar.OptionSetWidth(30), progressbar.OptionShowElapsedTimeOnFinish(),
			progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(100 * time.Millisecond),
		}
		if phase == "blobs" || phase == "sync" || phase == "restore" || phase == "upload" || phase == "download" {
			opts = append(opts, progressbar.OptionShowBytes(true))
		} else {
			opts = append(opts, progressbar.OptionShowIts())
		}
		t := total
		if t <= 0 {
			t = -1
		}
		b.b = progressbar.NewOptions64(t, opts...)
		b.phase, b.total = phase, total
	}
	_ = b.b.Set64(done)
}

func (b *bar) finish() {
	if b.b != nil {
		_ = b.b.Finish()
		fmt.Fprintln(b.w)
		b.b = nil
	}
}

func (c *adminCLI) print(v any, human func(w io.Writer)) error {
	if c.json {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	human(tw)
	return tw.Flush()
}

func (c *adminCLI) status(ctx context.Context, args []string) error {
	if len(args) > 0 {
		return usagef("status takes no arguments")
	}
	var st admin.Status
	if err := c.do(ctx, http.MethodGet, "/v1/admin/status", nil, &st); err != nil {
		return err
	}
	return c.print(st, func(w io.Writer) {
		fmt.Fprintf(w, "version\t%s\nregion\t%s\nuptime\t%s\nhealthy\t%v\n", st.Version, st.Region, time.Duration(st.UptimeSec)*time.Second, st.Healthy)
		fmt.Fprintf(w, "log on disk\t%s\nchange entries\t%d\nsystem seq\t%d\n", humanBytes(int64(st.Log.DiskBytes)), st.Log.ChangeEntries, st.Log.SystemSeq)
		fmt.Fprintf(w, "workspaces\t%d (%d deleted, %d with sync state)\n", st.Workspaces.Total, st.Workspaces.Deleted, st.Workspaces.Synced)
		fmt.Fprintf(w, "device cursors\t%d\nstorage\t%d objects, %s\nadmins\t%d\n", st.DeviceCursors, st.Storage.Objects, humanBytes(st.Storage.Bytes), st.Admins)
		backlog := "n/a"
		if st.GC.Backlog != nil {
			backlog = strconv.FormatInt(*st.GC.Backlog, 10)
		}
		fmt.Fprintf(w, "gc\t%s, backlog %s\nreplication\t%s\n", st.GC.State, backlog, st.Replication.State)
	})
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func (c *adminCLI) gc(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("gc", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	ws := fs.String("workspace", "", "one workspace (default all)")
	ret := fs.Int64("retention", 0, "retention in seconds (default: the server's)")
	tomb := fs.Bool("tombstones", false, "collect tombstones")
	stor := fs.Bool("storage", false, "collect unreferenced blobs")
	all := fs.Bool("all", false, "change log, tombstones and blobs")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return usagef("gc [--workspace W] [--retention SECONDS] [--tombstones|--storage|--all]")
	}
	ids := []string{"sync.gc-change-log"}
	switch {
	case *all:
		ids = []string{"sync.gc-change-log", "sync.gc-tombstones", "storage.gc"}
	case *tomb:
		ids = []string{"sync.gc-tombstones"}
	case *stor:
		ids = []string{"storage.gc"}
	}
	results := map[string]admin.GCSummary{}
	for _, id := range ids {
		var r admin.GCSummary
		if err := c.action(ctx, id, admin.ActionParams{WorkspaceID: *ws, RetentionSeconds: *ret}, &r); err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
		results[id] = r
	}
	return c.print(results, func(w io.Writer) {
		fmt.Fprintln(w, "ACTION\tWORKSPACES\tPURGED\tTOOK")
		for _, id := range ids {
			r := results[id]
			fmt.Fprintf(w, "%s\t%d\t%d\t%s\n", id, r.Workspaces, r.Purged, time.Duration(r.DurationMs)*time.Millisecond)
		}
	})
}

func (c *adminCLI) backup(ctx context.Context, args []string) error {
	if len(args) != 1 {
		return usagef("backup DIR | s3://bucket/prefix?endpoint=host:port")
	}
	dir := args[0]
	if admin.IsS3Target(dir) {
		if _, err := admin.ParseS3Target(dir); err != nil {
			return usagef("%v", err)
		}
	} else {
		var err error
		if dir, err = filepath.Abs(dir); err != nil {
			return usagef("%v", err)
		}
	}
	var r admin.BackupResult
	if err := c.action(ctx, "backup", admin.ActionParams{Dir: dir}, &r); err != nil {
		return err
	}
	return c.print(r, func(w io.Writer) {
		fmt.Fprintf(w, "backup\t%s\nfiles\t%d\nsize\t%s\ntook\t%s\n", r.Dir, r.Files, humanBytes(r.Bytes), time.Duration(r.DurationMs)*time.Millisecond)
	})
}

func (c *adminCLI) restore(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	dd := fs.String("data-dir", c.dataDir, "the new data dir")
	noVerify := fs.Bool("no-verify", false, "skip verifying the restored state")
	if len(args) == 0 {
		return usagef("restore DIR|s3://bucket/prefix?endpoint=host:port --data-dir NEW")
	}
	src := args[0]
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 || *dd == "" {
		return usagef("restore DIR|s3://bucket/prefix?endpoint=host:port --data-dir NEW")
	}
	b := newBar(c.stderr, "restore")
	progress := func(phase string, done, total int64) { b.set(phase, done, total) }
	var m admin.Manifest
	var err error
	if admin.IsS3Target(src) {
		if _, perr := admin.ParseS3Target(src); perr != nil {
			b.finish()
			return usagef("%v", perr)
		}
		cred := admin.S3Credentials{AccessKey: c.getenv("SYNCD_S3_ACCESS_KEY"), SecretKey: c.getenv("SYNCD_S3_SECRET_KEY")}
		m, err = admin.RestoreS3(ctx, src, cred, *dd, progress)
	} else {
		m, err = admin.Restore(src, *dd, progress)
	}
	b.finish()
	if err != nil {
		return err
	}
	out := map[string]any{"dataDir": *dd, "files": len(m.Files), "bytes": m.Bytes, "createdAt": m.CreatedAt}
	if !*noVerify {
		rep, err := verifyOffline(ctx, *dd, c.stderr)
		if err != nil {
			return err
		}
		out["verify"] = rep
		if !rep.OK {
			_ = c.print(out, func(w io.Writer) { printVerify(w, rep) })
			return errors.New("the restored state does not verify")
		}
	}
	return c.print(out, func(w io.Writer) {
		fmt.Fprintf(w, "restored\t%s\nfiles\t%d\nsize\t%s\nbackup taken\t%s\n", *dd, len(m.Files), humanBytes(m.Bytes), time.UnixMilli(m.CreatedAt).UTC().Format(time.RFC3339))
		if rep, ok := out["verify"].(admin.VerifyReport); ok {
			printVerify(w, rep)
		}
	})
}

// verifyOffline opens a stopped data dir (Pebble's lock refuses a running
// one) and verifies it.
func verifyOffline(ctx context.Context, dataDir string, stderr io.Writer) (admin.VerifyReport, error) {
	db, err := synclog.Open(synclog.Config{Dir: filepath.Join(dataDir, "log"), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return admin.VerifyReport{}, fmt.Errorf("open %s (is syncd still running on it?): %w", dataDir, err)
	}
	defer db.Close()
	tmp, err := os.MkdirTemp(dataDir, ".verify-")
	if err != nil {
		return admin.VerifyReport{}, err
	}
	defer os.RemoveAll(tmp)
	b := newBar(stderr, "verify")
	defer b.finish()
	return admin.Verify(ctx, db, daemon.NewFolder(), filepath.Join(tmp, "replay"), func(done, total int64) { b.set("verify", done, total) })
}

func printVerify(w io.Writer, r admin.VerifyReport) {
	res := "ok"
	if !r.OK {
		res = "FAILED"
	}
	fmt.Fprintf(w, "verify\t%s (%s)\nevents\t%d system, %d change\nrows\t%d\nread\t%s in %s\n", res, r.Mode, r.SystemEvents, r.ChangeEntries, r.Rows,
		humanBytes(r.BytesRead), time.Duration(r.DurationMs)*time.Millisecond)
	for _, p := range r.Problems {
		fmt.Fprintf(w, "problem\t%s\n", p)
	}
}

func (c *adminCLI) verify(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	dd := fs.String("data-dir", "", "verify a stopped data dir offline")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return usagef("verify [--data-dir D]")
	}
	var rep admin.VerifyReport
	var err error
	if *dd != "" {
		rep, err = verifyOffline(ctx, *dd, c.stderr)
	} else {
		err = c.action(ctx, "state.verify", struct{}{}, &rep)
	}
	if err != nil {
		return err
	}
	if perr := c.print(rep, func(w io.Writer) { printVerify(w, rep) }); perr != nil {
		return perr
	}
	if !rep.OK {
		return errors.New("state does not match the log")
	}
	return nil
}

func (c *adminCLI) users(ctx context.Context, args []string) error {
	if len(args) > 0 && (args[0] == "grant" || args[0] == "revoke") && len(args) != 2 {
		return usagef("users %s USER_ID", args[0])
	}
	switch {
	case len(args) == 2 && (args[0] == "grant" || args[0] == "revoke"):
		var out any
		if err := c.rpc(ctx, "adminUsers."+args[0]+"Admin", []any{map[string]any{"userId": args[1]}}, &out); err != nil {
			return err
		}
		return c.print(map[string]any{"ok": true, "userId": args[1], "action": args[0]}, func(w io.Writer) {
			fmt.Fprintf(w, "%s\t%s\n", args[0], args[1])
		})
	case len(args) == 1:
		var hits []admin.UserHit
		if err := c.rpc(ctx, "adminUsers.searchUsers", []any{map[string]any{"query": args[0], "limit": 100}}, &hits); err != nil {
			return err
		}
		return c.print(hits, func(w io.Writer) {
			fmt.Fprintln(w, "USER ID\tEMAIL\tNAME")
			for _, h := range hits {
				fmt.Fprintf(w, "%s\t%s\t%s\n", h.UserID, deref(h.Email), deref(h.DisplayName))
			}
		})
	case len(args) == 0:
		var admins []admin.AdminUser
		if err := c.rpc(ctx, "adminUsers.listAdmins", []any{}, &admins); err != nil {
			return err
		}
		return c.print(admins, func(w io.Writer) {
			fmt.Fprintln(w, "ADMIN USER ID\tEMAIL\tNAME\tGRANTED")
			for _, a := range admins {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", a.UserID, deref(a.Email), deref(a.DisplayName), time.UnixMilli(a.CreatedAt).UTC().Format(time.RFC3339))
			}
		})
	}
	return usagef("users [QUERY] | users grant|revoke USER_ID")
}

func deref(s *string) string {
	if s == nil {
		return "-"
	}
	return *s
}

func (c *adminCLI) workspaces(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("workspaces", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	search := fs.String("search", "", "name or description contains")
	del := fs.Bool("deleted", false, "include deleted workspaces")
	page := fs.Int("page", 1, "page")
	per := fs.Int("per-page", 50, "rows per page (≤100)")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || *page < 1 || *per < 1 || *per > 100 {
		return usagef("workspaces [--search S] [--deleted] [--page N] [--per-page N≤100]")
	}
	var list admin.WorkspaceList
	if err := c.rpc(ctx, "workspaceAccess.listWorkspaces", []any{map[string]any{"search": *search, "includeDeleted": *del, "page": *page, "perPage": *per}}, &list); err != nil {
		return err
	}
	return c.print(list, func(w io.Writer) {
		fmt.Fprintln(w, "ID\tNAME\tOWNER\tMEMBERS\tCREATED\tDELETED")
		for _, x := range list.Items {
			fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%v\n", x.ID, x.Name, deref(x.OwnerEmail), x.MemberCount, time.UnixMilli(x.CreatedAt).UTC().Format(time.RFC3339), x.Deleted)
		}
		fmt.Fprintf(w, "total\t%d\n", list.Total)
	})
}

func (c *adminCLI) audit(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	limit := fs.Int("limit", 50, "entries (≤500)")
	action := fs.String("action", "", "an action, or a prefix ending in '.'")
	target := fs.String("target", "", "target id")
	before := fs.Uint64("before", 0, "page cursor (seq)")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || *limit < 1 || *limit > admin.MaxAuditLimit {
		return usagef("audit [--limit N≤500] [--action A] [--target ID] [--before SEQ]")
	}
	var page admin.AuditPage
	if err := c.rpc(ctx, "adminUsers.listAudit", []any{map[string]any{"limit": *limit, "action": *action, "targetId": *target, "before": *before}}, &page); err != nil {
		return err
	}
	return c.print(page, func(w io.Writer) {
		fmt.Fprintln(w, "SEQ\tTIME\tACTOR\tACTION\tTARGET\tBEFORE\tAFTER")
		for _, e := range page.Items {
			fmt.Fprintf(w, "%d\t%s\t%s (%s)\t%s\t%s\t%s\t%s\n", e.Seq, time.UnixMilli(e.CreatedAt).UTC().Format(time.RFC3339), e.ActorID, e.ActorType,
				e.Action, e.TargetID, e.Before, e.After)
		}
		if page.NextBefore != 0 {
			fmt.Fprintf(w, "more\t--before %d\n", page.NextBefore)
		}
	})
}
