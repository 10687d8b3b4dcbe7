package api

import (
	"bytes"
	"net/http"
	"strings"
)

// rpcOK is a successful RPC answer.
type rpcOK struct {
	OK     bool `json:"ok"`
	Result any  `json:"result"`
}

// rpc is POST /v1/rpc/{store}.{method}: the body is a JSON array of the
// method's arguments (api.md "RPC stores").
func (s *Server) rpc(w http.ResponseWriter, r *http.Request) {
	call := r.PathValue("call")
	store, method, ok := strings.Cut(call, ".")
	if !ok || store == "" || method == "" {
		s.writeError(w, r, errorf(http.StatusNotFound, "RPC paths are /v1/rpc/{store}.{method}, not %q", call))
		return
	}
	st, ok := s.cfg.Stores[store]
	if !ok {
		s.writeError(w, r, errorf(http.StatusNotFound, "unknown RPC store %q", store))
		return
	}
	body, err := readJSONBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if body = bytes.TrimSpace(body); body[0] != '[' {
		s.writeError(w, r, errorf(http.StatusBadRequest, "the body of an RPC call must be a JSON array of arguments, not %s", jsonKind(body)))
		return
	}
	res, err := st.Call(r.Context(), method, body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rpcOK{OK: true, Result: res})
}
