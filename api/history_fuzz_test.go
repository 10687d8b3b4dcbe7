package api_test

import (
	"net/http"
	"testing"
)

// FuzzHistoryBodies feeds any body to the snapshot, GC, canonical-storage
// and upload-intent routes of a real daemon: no panic, no 5xx, JSON
// answers. The first byte picks the route.
func FuzzHistoryBodies(f *testing.F) {
	ft := newFuzzTarget(f)
	scope := `{"workspaceId":"` + ft.ws + `"}`
	routes := []string{
		"/v1/sync/snapshot", "/v1/sync/gc-change-log", "/v1/sync/gc-tombstones", "/v1/sync/canonical-storage",
		"/v1/sync/upload-intents/reserve", "/v1/sync/upload-intents/consume", "/v1/sync/upload-intents/cancel",
	}
	seeds := map[int][]string{
		0: {`{"scope":` + scope + `,"pageSize":1}`, `{"scope":` + scope + `,"pageSize":1,"pageToken":"AQAAAAAAAAAAAAAAAAAAAAACeA","tables":["threads"]}`, `{"scope":` + scope + `,"pageSize":1.5}`},
		1: {`{"scope":` + scope + `,"retentionSeconds":3600}`, `{"scope":` + scope + `,"retentionSeconds":3600.5}`},
		2: {`{"scope":` + scope + `,"retentionSeconds":31536000}`},
		3: {`{"scope":` + scope + `,"kind":"live_metadata","limit":1,"hash":"sha256:AB"}`, `{"scope":` + scope + `,"kind":"reference_edges","cursor":"eyJ2IjoxLCJrIjoicmVmZXJlbmNlX2VkZ2VzIiwidCI6InBvc3RzIiwiYSI6IngifQ"}`, `{"scope":` + scope + `,"kind":"active_reservations","now":100}`},
		4: {`{"workspaceId":"` + ft.ws + `","hash":"ab","mimeType":"image/png","sizeBytes":10,"workspaceQuotaBytes":5}`, `{"workspaceId":"` + ft.ws + `","intentId":"i","hash":"ab","mimeType":"a/b","sizeBytes":1,"expiresAt":1e12}`},
		5: {`{"workspaceId":"` + ft.ws + `","intentId":"i","hash":"ab","mimeType":"image/png","sizeBytes":10,"storageId":"s"}`},
		6: {`{"workspaceId":"` + ft.ws + `","intentId":"i"}`, `{"scope":` + scope + `,"intentId":"i"}`},
	}
	for i, list := range seeds {
		for _, s := range list {
			f.Add(byte(i), []byte(s))
		}
	}
	f.Add(byte(0), []byte(`[]`))
	f.Add(byte(3), []byte("\xff"))
	f.Fuzz(func(t *testing.T, route byte, body []byte) {
		path := routes[int(route)%len(routes)]
		check(t, ft.serve(http.MethodPost, path, body, ft.user), body)
	})
}
