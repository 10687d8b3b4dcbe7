package admin_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/or3/syncd/admin"
	"github.com/or3/syncd/syncerr"
)

// FuzzCall feeds arbitrary method names and argument bodies to the three
// admin RPC stores of a real daemon: every answer is a result or a
// *syncerr.Error with a 4xx status (never a panic or a 500), and the store
// stays healthy.
func FuzzCall(f *testing.F) {
	for _, s := range []struct{ m, a string }{
		{"workspaceAccess.listWorkspaces", `[{"search":"a","page":2,"perPage":1000}]`},
		{"workspaceAccess.upsertMember", `[{"workspaceId":"w","emailOrProviderId":"a@b","role":"owner"}]`},
		{"workspaceAccess.softDeleteWorkspace", `[{"workspaceId":"w","deletedAt":1.5}]`},
		{"workspaceSettings.set", `["w","k","v",{"actorUserId":"x"}]`},
		{"workspaceSettings.get", `["w",1]`},
		{"adminUsers.grantAdmin", `[{"userId":""}]`},
		{"adminUsers.listAudit", `[{"before":-1,"limit":1e9,"action":"member."}]`},
		{"adminUsers.ensureDeploymentAdmin", `[{"provider":"p","providerUserId":"s","bridgeSignature":"x","adminUsername":"r"}]`},
		{"adminUsers.checkDeploymentAdmin", `[null,{}]`},
		{"adminUsers.nope", `[]`},
		{"workspaceAccess.listMembers", `{}`},
		{"workspaceAccess.searchUsers", `[{"query":"\u0000","limit":"x"}]`},
	} {
		f.Add(s.m, []byte(s.a))
	}
	d, c := startDaemon(f, f.TempDir(), nil)
	_ = c
	stores := map[string]interface {
		Call(context.Context, string, json.RawMessage) (any, error)
	}{"workspaceAccess": d.Admin.Access(), "workspaceSettings": d.Admin.Settings(), "adminUsers": d.Admin.Users()}
	f.Fuzz(func(t *testing.T, call string, body []byte) {
		store, method := call, ""
		for i := 0; i < len(call); i++ {
			if call[i] == '.' {
				store, method = call[:i], call[i+1:]
				break
			}
		}
		st, ok := stores[store]
		if !ok {
			return
		}
		res, err := st.Call(context.Background(), method, body)
		if err != nil {
			se, ok := syncerr.As(err)
			if !ok || se.Status >= 500 {
				t.Fatalf("%s %q: %v", call, body, err)
			}
			return
		}
		if _, err := json.Marshal(res); err != nil {
			t.Fatalf("%s: unencodable result %v", call, err)
		}
		if err := d.DB.Healthy(); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzDecodeActionParams: the action body decoder never panics and
// accepts only the known keys with sane values.
func FuzzDecodeActionParams(f *testing.F) {
	for _, s := range []string{``, `{}`, `{"workspaceId":"w","retentionSeconds":3600}`, `{"dir":"/x"}`, `{"limit":-1}`, `{"x":1}`, `[]`, `{"dir":1}`, `{} {}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := admin.DecodeActionParams(body)
		if err != nil {
			if se, ok := syncerr.As(err); !ok || se.Status >= 500 {
				t.Fatalf("%q: %v", body, err)
			}
			return
		}
		if p.RetentionSeconds < 0 || p.Limit < 0 {
			t.Fatalf("%q accepted negative values: %+v", body, p)
		}
	})
}
