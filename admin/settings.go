package admin

//lint:file-ignore U1000 the _msgpack fields are msgpack's as_array markers, read by reflection

import (
	"context"
	"unicode/utf8"

	"github.com/or3/syncd/identity"
	synclog "github.com/or3/syncd/log"
	"github.com/or3/syncd/syncerr"
)

// Limits of workspace settings.
const (
	MaxSettingKeyLen   = 256
	MaxSettingValueLen = 64 << 10
)

const evSettingSet = "settings.set"

type settingBody struct {
	_msgpack struct{} `msgpack:",as_array"`

	WorkspaceID string
	Key         string
	Value       string
}

// settingRecord is a workspace setting. key: PrefixSettings | ws | key.
type settingRecord struct {
	_msgpack struct{} `msgpack:",as_array"`

	Value       string
	UpdatedAtMs int64
	UpdatedBy   string
}

func settingKey(ws, key string) []byte {
	return synclog.NewKey(synclog.PrefixSettings).Str(ws).Str(key)
}

func checkID(field, v string) error {
	switch {
	case v == "":
		return syncerr.Validation("%s is required", field)
	case len(v) > identity.MaxIDLen:
		return syncerr.Validation("%s must be at most %d bytes", field, identity.MaxIDLen)
	}
	return nil
}

func checkSetting(ws, key, value string) error {
	if err := checkID("workspaceId", ws); err != nil {
		return err
	}
	switch {
	case key == "":
		return syncerr.Validation("key is required")
	case len(key) > MaxSettingKeyLen || !utf8.ValidString(key):
		return syncerr.Validation("key must be valid UTF-8 of at most %d bytes", MaxSettingKeyLen)
	case len(value) > MaxSettingValueLen || !utf8.ValidString(value):
		return syncerr.Validation("value must be valid UTF-8 of at most %d bytes", MaxSettingValueLen)
	}
	return nil
}

// GetSetting returns a workspace setting, or nil when unset (§5.6).
func (s *Service) GetSetting(ctx context.Context, ws, key string) (*string, error) {
	if err := checkSetting(ws, key, ""); err != nil {
		return nil, err
	}
	var out *string
	err := s.read(func(v *synclog.View) error {
		var rec settingRecord
		found, err := synclog.GetRecord(v, settingKey(ws, key), &rec)
		if found {
			out = &rec.Value
		}
		return err
	})
	return out, err
}

// SetSetting upserts a workspace setting, last write wins (§5.6). The
// workspace must exist (no orphaned settings, weakness 30). Settings are
// admin-only and never synced to clients (weakness 21).
func (s *Service) SetSetting(ctx context.Context, actor Actor, ws, key, value string) error {
	if err := checkSetting(ws, key, value); err != nil {
		return err
	}
	return s.write(ctx, actor, func(t *txn) error {
		w, err := identity.ReadWorkspace(t.b, ws)
		if err != nil {
			return err
		}
		if w == nil {
			return syncerr.NotFound("Workspace not found")
		}
		var cur settingRecord
		found, err := synclog.GetRecord(t.b, settingKey(ws, key), &cur)
		if err != nil {
			return err
		}
		if found && cur.Value == value {
			return nil
		}
		if err := t.emit(evSettingSet, &settingBody{WorkspaceID: ws, Key: key, Value: value}); err != nil {
			return err
		}
		var before any
		if found {
			before = map[string]any{"key": key, "value": cur.Value}
		}
		return t.audit(evSettingSet, "workspace", ws, before, map[string]any{"key": key, "value": value})
	})
}
