package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/elazarl/goproxy"
)

// serveIntercepted serves a request from inside an intercepted tunnel the
// way serveProxy does, without goproxy's handler in between: goproxy would
// only call handleRequest and roundTrip (its one request handler and the
// RoundTripper handleRequest sets) and copy the response, while formatting
// two debug lines per request, logging on or off. relay is that request
// path (goproxy v1.9.3's handleHttp) with bottle's handlers called
// directly: the same judgement, audit line, header bounds and limits, and
// the response written to the agent as goproxy wrote it. Plain-HTTP proxy
// requests still go through goproxy (serveProxy).
func (s *Server) serveIntercepted(w http.ResponseWriter, r *http.Request) {
	rw := &respWriter{ResponseWriter: w}
	s.relay(rw, r.WithContext(context.WithValue(r.Context(), respWriterKey{}, rw)))
	if rw.hijacked != nil {
		rw.hijacked.Close() // as serveProxy: the relay of an upgraded stream has ended
	}
	if rw.aborted.Load() {
		panic(http.ErrAbortHandler) // as serveProxy
	}
}

// relay is goproxy's handleHttp for an absolute-form request, with no
// response handlers and KeepHeader set (handleRequest removes the proxy
// headers).
func (s *Server) relay(w *respWriter, r *http.Request) {
	ctx := &goproxy.ProxyCtx{Req: r, Proxy: s.gp}
	r, resp := s.handleRequest(r, ctx)
	if resp == nil {
		var err error
		resp, err = s.roundTrip(r, ctx)
		if err != nil {
			// Cannot happen (roundTrip answers its errors), but goproxy
			// would answer so.
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	if resp == nil {
		http.Error(w, "error read response "+r.URL.Host, http.StatusInternalServerError)
		return
	}
	defer resp.Body.Close()

	h := w.Header()
	for k := range h {
		delete(h, k)
	}
	for k, vs := range resp.Header {
		h[k] = append(h[k], vs...) // as goproxy: no canonicalization
	}
	// Trailers announced now commit the server to chunked encoding (h1) or
	// a trailing HEADERS frame (h2).
	announced := len(resp.Trailer)
	if announced > 0 {
		keys := make([]string, 0, announced)
		for k := range resp.Trailer {
			keys = append(keys, k)
		}
		h.Add("Trailer", strings.Join(keys, ", "))
	}
	w.WriteHeader(resp.StatusCode)

	if headerHas(resp.Header, "Connection", "Upgrade") && headerHas(resp.Header, "Upgrade", "websocket") {
		s.relayWebSocket(w, resp)
		return
	}

	var dst io.Writer = w
	if strings.HasPrefix(h.Get("content-type"), "text/event-stream") || strings.Contains(h.Get("transfer-encoding"), "chunked") {
		dst = flushWriter{w}
	}
	io.Copy(dst, resp.Body)
	if err := resp.Body.Close(); err != nil {
		s.log.Debug("cannot close the response body", "err", err, "component", "goproxy")
	}

	if len(resp.Trailer) > 0 {
		w.Flush() // chunked even for a short body, or the trailers are lost
		if len(resp.Trailer) == announced {
			for k, vs := range resp.Trailer {
				h[k] = append(h[k], vs...)
			}
		} else {
			for k, vs := range resp.Trailer {
				for _, v := range vs {
					h.Add(http.TrailerPrefix+k, v)
				}
			}
		}
	}
}

// relayWebSocket relays an upgraded WebSocket connection (the 101 is
// written) until one side ends, as goproxy's proxyWebsocket: the agent's
// bytes already buffered by the server go first.
func (s *Server) relayWebSocket(w *respWriter, resp *http.Response) {
	agent, br, err := w.Hijack()
	if err != nil {
		s.log.Debug("hijack", "err", err, "component", "goproxy")
		return
	}
	up, ok := resp.Body.(io.ReadWriter)
	if !ok {
		s.log.Debug("the upgraded response body is not a connection", "component", "goproxy")
		return
	}
	var from io.Reader = agent
	if br != nil && br.Reader.Buffered() > 0 {
		buffered, _ := br.Reader.Peek(br.Reader.Buffered())
		from = io.MultiReader(strings.NewReader(string(buffered)), agent)
	}
	done := make(chan struct{}, 2)
	relay := func(dst io.Writer, src io.Reader) {
		if _, err := io.Copy(dst, src); err != nil && !errors.Is(err, net.ErrClosed) {
			s.log.Debug("websocket relay", "err", err, "component", "goproxy")
		}
		done <- struct{}{}
	}
	go relay(up, from)
	go relay(agent, up)
	<-done
}

// flushWriter flushes after every write (event streams, chunked bodies).
type flushWriter struct{ w *respWriter }

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	f.w.Flush()
	return n, err
}
