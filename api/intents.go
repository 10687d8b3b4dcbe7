package api

import (
	"context"
	"net/http"

	"github.com/or3/syncd/intents"
)

// Intents is what the HTTP layer needs of the upload-intent module
// (*intents.Store).
type Intents interface {
	Reserve(ctx context.Context, user string, req intents.ReserveRequest) (intents.Intent, error)
	Consume(ctx context.Context, user string, req intents.ConsumeRequest) (intents.Intent, error)
	Cancel(ctx context.Context, user string, req intents.CancelRequest) (intents.Intent, error)
}

// uploadIntent is POST /v1/sync/upload-intents/{reserve|consume|cancel}
// with the adapter arguments of host-integration §1.2 (camelCase).
func (s *Server) uploadIntent(verb string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.Intents == nil {
			s.writeError(w, r, errorf(http.StatusServiceUnavailable, "upload intents are not available"))
			return
		}
		user, body, ok := s.userAndBody(w, r)
		if !ok {
			return
		}
		var res intents.Intent
		var err error
		switch verb {
		case "reserve":
			var req intents.ReserveRequest
			if req, err = decodeReserve(body); err == nil {
				res, err = s.cfg.Intents.Reserve(r.Context(), user, req)
			}
		case "consume":
			var req intents.ConsumeRequest
			if req, err = decodeConsume(body); err == nil {
				res, err = s.cfg.Intents.Consume(r.Context(), user, req)
			}
		default:
			var req intents.CancelRequest
			if req, err = decodeCancel(body); err == nil {
				res, err = s.cfg.Intents.Cancel(r.Context(), user, req)
			}
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	}
}

// workspaceOf reads workspaceId, or scope.workspaceId when only a scope
// is given.
func workspaceOf(o object) (string, error) {
	ws, err := o.str("workspaceId")
	if err != nil || ws != "" {
		return ws, err
	}
	if isNull(o.raw("scope")) {
		return "", nil
	}
	sc, err := decodeScope(o)
	return sc.WorkspaceID, err
}

func decodeReserve(body []byte) (intents.ReserveRequest, error) {
	var req intents.ReserveRequest
	o, err := parseObject(body, "")
	if err != nil {
		return req, err
	}
	if req.WorkspaceID, err = workspaceOf(o); err != nil {
		return req, err
	}
	for key, dst := range map[string]*string{"intentId": &req.IntentID, "hash": &req.Hash, "mimeType": &req.MimeType} {
		if *dst, err = o.str(key); err != nil {
			return req, err
		}
	}
	if req.SizeBytes, _, err = o.int("sizeBytes", true); err != nil {
		return req, err
	}
	if n, present, err := o.int("expiresAt", false); err != nil {
		return req, err
	} else if present {
		req.ExpiresAt = &n
	}
	if n, present, err := o.int("workspaceQuotaBytes", false); err != nil {
		return req, err
	} else if present {
		req.WorkspaceQuotaBytes = &n
	}
	return req, nil
}

func decodeConsume(body []byte) (intents.ConsumeRequest, error) {
	var req intents.ConsumeRequest
	o, err := parseObject(body, "")
	if err != nil {
		return req, err
	}
	if req.WorkspaceID, err = workspaceOf(o); err != nil {
		return req, err
	}
	for key, dst := range map[string]*string{"intentId": &req.IntentID, "hash": &req.Hash, "mimeType": &req.MimeType, "storageId": &req.StorageID} {
		if *dst, err = o.str(key); err != nil {
			return req, err
		}
	}
	if req.SizeBytes, _, err = o.int("sizeBytes", true); err != nil {
		return req, err
	}
	return req, nil
}

func decodeCancel(body []byte) (intents.CancelRequest, error) {
	var req intents.CancelRequest
	o, err := parseObject(body, "")
	if err != nil {
		return req, err
	}
	if req.WorkspaceID, err = workspaceOf(o); err != nil {
		return req, err
	}
	req.IntentID, err = o.str("intentId")
	return req, err
}
