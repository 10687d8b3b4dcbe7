package webhooks

import (
	"context"
	"regexp"
	"slices"
	"sort"
	"unicode/utf8"

	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/syncerr"
)

// Limits of a registration.
const (
	maxLabelLen    = 200
	maxIDLen       = 256
	maxNames       = 64  // events, custom hooks
	maxNameLen     = 128 // one event or hook name
	maxPayloadSize = 1 << 20
)

// eventNameRE: dotted lowercase names ("message.created", "admin.job.failed").
var eventNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z0-9_*]+)+$`)

// hookNameRE: custom hook names as OR3 spells them ("notify:action:push").
var hookNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:\-]*$`)

// CreateInput is createWebhook's argument (snake_case fields of §5.1).
type CreateInput struct {
	Scope         string
	UserID        string
	WorkspaceID   string
	URL           string
	Label         string
	Events        []string
	CustomHooks   []string
	Enabled       *bool
	SigningSecret string // plaintext; generated when empty
}

// Patch is updateWebhook's argument; nil fields are unchanged.
type Patch struct {
	URL         *string
	Label       *string
	Events      *[]string
	CustomHooks *[]string
	Enabled     *bool
	WorkspaceID *string // "" clears (a global admin hook)
}

func validation(format string, args ...any) error { return syncerr.Validation(format, args...) }

func checkID(name, v string, required bool) error {
	if v == "" {
		if required {
			return validation("%s is required", name)
		}
		return nil
	}
	if len(v) > maxIDLen || !utf8.ValidString(v) {
		return validation("%s is invalid", name)
	}
	return nil
}

func checkNames(field string, names []string, re *regexp.Regexp) ([]string, error) {
	if len(names) > maxNames {
		return nil, validation("%s: at most %d names", field, maxNames)
	}
	out := make([]string, 0, len(names))
	for _, n := range names {
		if len(n) > maxNameLen || !re.MatchString(n) {
			return nil, validation("%s: malformed name %.80q", field, n)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

func (s *Store) checkURL(u string) error {
	if err := ValidateURL(u, s.cfg.AllowPrivate); err != nil {
		return validation("Invalid webhook url: %v", err)
	}
	return nil
}

// CreateWebhook registers a webhook and returns it with its plaintext
// signing secret — the only time the secret leaves the store.
func (s *Store) CreateWebhook(ctx context.Context, in CreateInput) (*Webhook, string, error) {
	if in.Scope != ScopeUser && in.Scope != ScopeAdmin {
		return nil, "", validation("scope must be user or admin")
	}
	if err := checkID("user_id", in.UserID, in.Scope == ScopeUser); err != nil {
		return nil, "", err
	}
	if err := checkID("workspace_id", in.WorkspaceID, in.Scope == ScopeUser); err != nil {
		return nil, "", err
	}
	if err := s.checkURL(in.URL); err != nil {
		return nil, "", err
	}
	if len(in.Label) > maxLabelLen || !utf8.ValidString(in.Label) {
		return nil, "", validation("label: at most %d bytes of UTF-8", maxLabelLen)
	}
	events, err := checkNames("events", in.Events, eventNameRE)
	if err != nil {
		return nil, "", err
	}
	hooks, err := checkNames("custom_hooks", in.CustomHooks, hookNameRE)
	if err != nil {
		return nil, "", err
	}
	if len(hooks) > 0 && in.Scope != ScopeAdmin {
		return nil, "", validation("custom_hooks are for admin webhooks only")
	}
	secret := in.SigningSecret
	if secret == "" {
		if secret, err = GenerateSecret(); err != nil {
			return nil, "", syncerr.Internal(err, "webhooks: random secret")
		}
	} else if !ValidSecret(secret) {
		return nil, "", validation("signing_secret must be whs_ followed by 64 lowercase hex characters")
	}
	enc, err := EncryptSecret(s.cfg.EncryptionKey, secret)
	if err != nil {
		return nil, "", syncerr.Internal(err, "webhooks: encrypt secret")
	}
	enabled := true
	if in.Enabled != nil {
		enabled = *in.Enabled
	}
	var w *Webhook
	err = s.write(ctx, in.UserID, func(t *txn) error {
		w = &Webhook{ID: s.newID(t.atMs), Scope: in.Scope, UserID: in.UserID, WorkspaceID: in.WorkspaceID,
			URL: in.URL, Label: in.Label, Events: events, CustomHooks: hooks, SecretEnc: enc,
			Enabled: enabled, Health: HealthUnknown, CreatedAtMs: t.atMs, UpdatedAtMs: t.atMs}
		return t.emit(evPut, w)
	})
	if err != nil {
		return nil, "", err
	}
	return w, secret, nil
}

// UpdateWebhook changes a registration. A URL change resets health to
// unknown. An unknown id is 404 "Webhook not found: <id>".
func (s *Store) UpdateWebhook(ctx context.Context, id string, p Patch) (*Webhook, error) {
	if p.URL != nil {
		if err := s.checkURL(*p.URL); err != nil {
			return nil, err
		}
	}
	if p.Label != nil && (len(*p.Label) > maxLabelLen || !utf8.ValidString(*p.Label)) {
		return nil, validation("label: at most %d bytes of UTF-8", maxLabelLen)
	}
	var events, hooks []string
	var err error
	if p.Events != nil {
		if events, err = checkNames("events", *p.Events, eventNameRE); err != nil {
			return nil, err
		}
	}
	if p.CustomHooks != nil {
		if hooks, err = checkNames("custom_hooks", *p.CustomHooks, hookNameRE); err != nil {
			return nil, err
		}
	}
	if p.WorkspaceID != nil {
		if err := checkID("workspace_id", *p.WorkspaceID, false); err != nil {
			return nil, err
		}
	}
	var out *Webhook
	err = s.write(ctx, "", func(t *txn) error {
		w, err := getWebhook(t.b, id)
		if err != nil {
			return internal(err, "read")
		}
		if w == nil {
			return notFound(id)
		}
		if p.URL != nil && *p.URL != w.URL {
			w.URL, w.Health = *p.URL, HealthUnknown
		}
		if p.Label != nil {
			w.Label = *p.Label
		}
		if p.Events != nil {
			w.Events = events
		}
		if p.CustomHooks != nil {
			if len(hooks) > 0 && w.Scope != ScopeAdmin {
				return validation("custom_hooks are for admin webhooks only")
			}
			w.CustomHooks = hooks
		}
		if p.Enabled != nil {
			w.Enabled = *p.Enabled
		}
		if p.WorkspaceID != nil {
			if *p.WorkspaceID == "" && w.Scope == ScopeUser {
				return validation("workspace_id is required for user webhooks")
			}
			w.WorkspaceID = *p.WorkspaceID
		}
		w.UpdatedAtMs = t.atMs
		out = w
		return t.emit(evPut, w)
	})
	return out, err
}

// DeleteWebhook deletes a registration and all its delivery logs (a no-op
// when it does not exist).
func (s *Store) DeleteWebhook(ctx context.Context, id string) error {
	return s.write(ctx, "", func(t *txn) error {
		w, err := getWebhook(t.b, id)
		if err != nil {
			return internal(err, "read")
		}
		if w == nil {
			return nil
		}
		return t.emit(evDelete, &deleteBody{ID: id})
	})
}

// UpdateWebhookHealth sets a registration's health.
func (s *Store) UpdateWebhookHealth(ctx context.Context, id, health string) error {
	if health != HealthHealthy && health != HealthFailing && health != HealthUnknown {
		return validation("health must be healthy, failing or unknown")
	}
	return s.write(ctx, "", func(t *txn) error {
		w, err := getWebhook(t.b, id)
		if err != nil {
			return internal(err, "read")
		}
		if w == nil {
			return notFound(id)
		}
		if w.Health == health {
			return nil
		}
		w.Health, w.UpdatedAtMs = health, t.atMs
		return t.emit(evPut, w)
	})
}

// DisableAllWebhooks disables the user's enabled user-scope hooks of the
// workspace and returns how many it disabled.
func (s *Store) DisableAllWebhooks(ctx context.Context, userID, workspaceID string) (int, error) {
	n := 0
	err := s.write(ctx, userID, func(t *txn) error {
		for _, w := range s.sortedHooks() {
			if w.Scope != ScopeUser || !w.Enabled || w.UserID != userID || w.WorkspaceID != workspaceID {
				continue
			}
			cp := *w
			cp.Enabled, cp.UpdatedAtMs = false, t.atMs
			if err := t.emit(evPut, &cp); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// sortedHooks is the writer's registrations, oldest first. Call under s.mu.
func (s *Store) sortedHooks() []*Webhook {
	out := make([]*Webhook, 0, len(s.hooks))
	for _, w := range s.hooks {
		out = append(out, w)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// GetWebhook returns a registration or nil.
func (s *Store) GetWebhook(_ context.Context, id string) (*Webhook, error) {
	var w *Webhook
	err := s.read(func(v *synclog.View) (err error) { w, err = getWebhook(v, id); return err })
	if err != nil {
		return nil, internal(err, "read")
	}
	return w, nil
}

// allWebhooks reads every registration from the durable view, newest
// first (created_at, then id).
func (s *Store) allWebhooks() ([]*Webhook, error) {
	var out []*Webhook
	err := s.read(func(v *synclog.View) error {
		lo := []byte{synclog.PrefixWebhook}
		it, err := v.NewIter(lo, synclog.PrefixEnd(lo))
		if err != nil {
			return err
		}
		defer it.Close()
		for ok := it.First(); ok; ok = it.Next() {
			w := new(Webhook)
			if err := synclog.Decode(it.Key(), it.Value(), w); err != nil {
				return err
			}
			out = append(out, w)
		}
		return it.Error()
	})
	if err != nil {
		return nil, internal(err, "read")
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].CreatedAtMs != out[j].CreatedAtMs {
			return out[i].CreatedAtMs > out[j].CreatedAtMs
		}
		return out[i].ID > out[j].ID
	})
	return out, nil
}

func (s *Store) filterWebhooks(keep func(w *Webhook) bool) ([]*Webhook, error) {
	all, err := s.allWebhooks()
	if err != nil {
		return nil, err
	}
	out := []*Webhook{}
	for _, w := range all {
		if keep(w) {
			out = append(out, w)
		}
	}
	return out, nil
}

// ListWebhooks lists the user's user-scope hooks of the workspace, newest
// first.
func (s *Store) ListWebhooks(_ context.Context, userID, workspaceID string) ([]*Webhook, error) {
	return s.filterWebhooks(func(w *Webhook) bool {
		return w.Scope == ScopeUser && w.UserID == userID && w.WorkspaceID == workspaceID
	})
}

// ListAdminWebhooks lists every admin hook, newest first.
func (s *Store) ListAdminWebhooks(context.Context) ([]*Webhook, error) {
	return s.filterWebhooks(func(w *Webhook) bool { return w.Scope == ScopeAdmin })
}

// matchesEvent is listWebhooksByEvent's rule (side-modules §5.4): enabled,
// of the scope, subscribed to the event, and — without a workspace —
// global admin hooks only; admin with a workspace → global plus that
// workspace's; user with a workspace → exactly that workspace.
func matchesEvent(w *Webhook, eventType, scope, workspaceID string) bool {
	if !w.Enabled || w.Scope != scope || !subscribed(w.Events, eventType) {
		return false
	}
	if workspaceID == "" {
		return scope == ScopeAdmin && w.WorkspaceID == ""
	}
	if scope == ScopeAdmin {
		return w.WorkspaceID == "" || w.WorkspaceID == workspaceID
	}
	return w.WorkspaceID == workspaceID
}

// subscribed reports whether events names eventType, exactly or by a
// trailing wildcard ("message.*").
func subscribed(events []string, eventType string) bool {
	for _, e := range events {
		if e == eventType {
			return true
		}
		if n := len(e); n > 2 && e[n-2:] == ".*" && len(eventType) > n-1 && eventType[:n-1] == e[:n-1] {
			return true
		}
	}
	return false
}

// ListWebhooksByEvent lists the hooks an event of eventType fires.
func (s *Store) ListWebhooksByEvent(_ context.Context, eventType, scope, workspaceID string) ([]*Webhook, error) {
	return s.filterWebhooks(func(w *Webhook) bool { return matchesEvent(w, eventType, scope, workspaceID) })
}

// ListWebhooksByCustomHook lists the enabled admin hooks subscribed to a
// custom hook.
func (s *Store) ListWebhooksByCustomHook(_ context.Context, name string) ([]*Webhook, error) {
	return s.filterWebhooks(func(w *Webhook) bool {
		return w.Enabled && w.Scope == ScopeAdmin && slices.Contains(w.CustomHooks, name)
	})
}

// ListActiveCustomHookNames lists the distinct custom hook names of
// enabled admin hooks, sorted.
func (s *Store) ListActiveCustomHookNames(context.Context) ([]string, error) {
	all, err := s.allWebhooks()
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, w := range all {
		if w.Enabled && w.Scope == ScopeAdmin {
			for _, n := range w.CustomHooks {
				if !slices.Contains(out, n) {
					out = append(out, n)
				}
			}
		}
	}
	sort.Strings(out)
	return out, nil
}
