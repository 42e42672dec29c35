package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"bottle.dev/bottle/e2e/fakemodel"
)

// modelHoldMax bounds how long a held stream waits for its release: a
// test that died must not leave a handler waiting for ever.
const modelHoldMax = 5 * time.Minute

// model is the fake model API that e2e/fakeagent calls (fakemodel's
// contract). The request log records the key it was sent; release
// carries one token per held stream to let go.
type model struct {
	release chan struct{}
}

// registerModel puts the fake model API and its control endpoint on mux.
func registerModel(mux *http.ServeMux) {
	m := &model{release: make(chan struct{}, 64)}
	mux.HandleFunc(fakemodel.Path, m.stream)
	mux.HandleFunc(fakemodel.ReleasePath, m.releaseOne)
}

// stream answers a Request with fakemodel.Chunks as server-sent events,
// flushed one by one, to a key that is not a placeholder.
func (m *model) stream(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST a JSON request", http.StatusMethodNotAllowed)
		return
	}
	key := r.Header.Get(fakemodel.KeyHeader)
	switch {
	case key == "":
		http.Error(w, "no "+fakemodel.KeyHeader, http.StatusUnauthorized)
		return
	case strings.HasPrefix(key, fakemodel.PlaceholderPrefix):
		http.Error(w, fakemodel.KeyHeader+" is a bottle placeholder: the proxy did not put the real key in", http.StatusUnauthorized)
		return
	}
	var req fakemodel.Request
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		http.Error(w, "the body is not a JSON request: "+err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	f, _ := w.(http.Flusher)
	for i, c := range fakemodel.Chunks(req) {
		fmt.Fprintf(w, "data: %s\n\n", c)
		if f != nil {
			f.Flush()
		}
		if i == 0 && req.Hold {
			select {
			case <-m.release:
			case <-r.Context().Done():
				return
			case <-time.After(modelHoldMax):
			}
		}
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
}

// releaseOne is POST fakemodel.ReleasePath: one held stream goes on (or
// the next one to be held does not stop).
func (m *model) releaseOne(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST to release a held stream", http.StatusMethodNotAllowed)
		return
	}
	select {
	case m.release <- struct{}{}:
	default:
		http.Error(w, "too many releases waiting", http.StatusServiceUnavailable)
	}
}
