package bench

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"time"
)

// ServeBareSSE serves the least an SSE stream on net/http can be (headers,
// a comment, then a wait for the client to leave) on a free port of
// 127.0.0.1 until ctx ends. It logs its address as syncd does
// ({"msg":"listening","addr":...} on w), so the harness starts it like a
// syncd child: its RSS per idle stream is the baseline of syncd's.
// /readyz answers 200.
func ServeBareSSE(ctx context.Context, w io.Writer) error {
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/readyz" {
				_, _ = io.WriteString(w, "ok\n")
				return
			}
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, ": bare\n\n")
			_ = http.NewResponseController(w).Flush()
			<-r.Context().Done()
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	return serveChild(ctx, w, srv, nil)
}

// serveChild serves srv on a free port of 127.0.0.1 until ctx ends,
// logging its address as syncd does ({"msg":"listening","addr":...} on
// w), so the harness starts it like a syncd child; then it closes srv and
// calls closed (if not nil).
func serveChild(ctx context.Context, w io.Writer, srv *http.Server, closed func()) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	line, _ := json.Marshal(map[string]string{"msg": "listening", "addr": ln.Addr().String()})
	if _, err := w.Write(append(line, '\n')); err != nil {
		_ = ln.Close()
		return err
	}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
		if closed != nil {
			closed()
		}
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
