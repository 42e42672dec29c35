package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"bottle.dev/bottle/e2e/fakemodel"
)

// TestModel: the fake model API refuses a missing key and a placeholder,
// streams its answer to a real one event by event (a held stream gives its
// first event, and the rest only once released), and the request log
// records the key it was sent.
func TestModel(t *testing.T) {
	log := &requestLog{}
	mux := http.NewServeMux()
	mux.Handle("/__requests", log)
	registerModel(mux)
	srv := httptest.NewServer(log.wrap(mux))
	defer srv.Close()

	post := func(key string, req fakemodel.Request) *http.Response {
		t.Helper()
		body, _ := json.Marshal(req)
		r, _ := http.NewRequest("POST", srv.URL+fakemodel.Path, strings.NewReader(string(body)))
		if key != "" {
			r.Header.Set(fakemodel.KeyHeader, key)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	for _, key := range []string{"", fakemodel.PlaceholderPrefix + "fakemodel-abc"} {
		resp := post(key, fakemodel.Request{Prompt: "hi"})
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("key %q: %s %s", key, resp.Status, b)
		}
	}

	req := fakemodel.Request{Prompt: "say  hi\nand exit 3", Instructions: "be brief", Skills: []string{"a.md"}, Hold: true}
	resp := post("real-key-1", req)
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%s %v", resp.Status, resp.Header)
	}
	br := bufio.NewReader(resp.Body)
	event := func() string {
		t.Helper()
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading an event: %v", err)
		}
		if blank, _ := br.ReadString('\n'); blank != "\n" {
			t.Fatalf("event %q not followed by a blank line: %q", l, blank)
		}
		return strings.TrimSuffix(l, "\n")
	}
	want := fakemodel.Chunks(req)
	if want[0] != "fake-model chunk 1/3: heard say hi and exit 3" || want[1] != "fake-model chunk 2/3: 8 bytes of instructions and 1 skills" {
		t.Errorf("chunks: %q", want)
	}
	// The first event arrives while the stream is held: it was flushed.
	if got := event(); got != "data: "+want[0] {
		t.Errorf("first event %q", got)
	}
	if r, err := http.Post(srv.URL+fakemodel.ReleasePath, "", nil); err != nil || r.StatusCode != 200 {
		t.Fatalf("release: %v %v", r, err)
	}
	for _, w := range append(want[1:], "[DONE]") {
		if got := event(); got != "data: "+w {
			t.Errorf("event %q; want %q", got, "data: "+w)
		}
	}

	var reqs []Request
	r, _ := http.Get(srv.URL + "/__requests")
	json.NewDecoder(r.Body).Decode(&reqs)
	r.Body.Close()
	if len(reqs) != 3 || reqs[2].Path != fakemodel.Path || strings.Join(reqs[2].Headers[fakemodel.KeyHeader], ",") != "real-key-1" {
		t.Errorf("recorded: %+v", reqs)
	}
}
