package fakeapi

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// sseEvent is one server-sent event as a client parses it.
type sseEvent struct {
	name string
	data map[string]any
}

func readSSE(t *testing.T, r io.Reader) []sseEvent {
	t.Helper()
	var out []sseEvent
	var cur sseEvent
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.data != nil {
				out = append(out, cur)
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, "event: "):
			cur.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &cur.data); err != nil {
				t.Fatalf("data %q: %v", line, err)
			}
		default:
			t.Fatalf("not an SSE line: %q", line)
		}
	}
	return out
}

func providersServer(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	Register(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func post(t *testing.T, srv *httptest.Server, host, path, body string, hdr ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(body))
	req.Host = host
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func names(evs []sseEvent) string {
	var n []string
	for _, e := range evs {
		if e.name != "" {
			n = append(n, e.name)
		} else {
			n = append(n, "data")
		}
	}
	return strings.Join(n, " ")
}

// TestAnthropicMessages: the stream is the Messages API's event sequence,
// each event's type matching its name, the text deltas making the fixed
// text, end_turn and usage at the end; without stream, one message; no
// key, 401.
func TestAnthropicMessages(t *testing.T) {
	srv := providersServer(t)
	resp := post(t, srv, "api.anthropic.com", "/v1/messages?beta=true", `{"model":"claude-x","stream":true,"messages":[]}`, "X-Api-Key", "k")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%s %v", resp.Status, resp.Header)
	}
	evs := readSSE(t, resp.Body)
	if got := names(evs); got != "message_start content_block_start ping content_block_delta content_block_delta content_block_stop message_delta message_stop" {
		t.Errorf("events: %s", got)
	}
	var text string
	for _, e := range evs {
		if e.data["type"] != e.name {
			t.Errorf("event %s has type %v", e.name, e.data["type"])
		}
		if d, _ := e.data["delta"].(map[string]any); e.name == "content_block_delta" && d["type"] == "text_delta" {
			text += d["text"].(string)
		}
	}
	if text != ClaudeText {
		t.Errorf("text %q", text)
	}
	last := evs[len(evs)-2].data
	if last["delta"].(map[string]any)["stop_reason"] != "end_turn" || last["usage"].(map[string]any)["output_tokens"] == nil {
		t.Errorf("message_delta: %v", last)
	}
	if m := evs[0].data["message"].(map[string]any); m["model"] != "claude-x" || m["role"] != "assistant" {
		t.Errorf("message_start: %v", m)
	}

	resp = post(t, srv, "api.anthropic.com", "/v1/messages", `{"model":"claude-x"}`, "X-Api-Key", "k")
	var msg struct {
		Content []struct{ Type, Text string }
		Stop    string `json:"stop_reason"`
	}
	json.NewDecoder(resp.Body).Decode(&msg)
	if len(msg.Content) != 1 || msg.Content[0].Text != ClaudeText || msg.Stop != "end_turn" {
		t.Errorf("non-streaming: %+v", msg)
	}
	if resp := post(t, srv, "api.anthropic.com", "/v1/messages", `{"model":"claude-x"}`); resp.StatusCode != 401 {
		t.Errorf("without a key: %s", resp.Status)
	}
	if resp := post(t, srv, "api.anthropic.com", "/v1/messages/count_tokens", `{}`, "X-Api-Key", "k"); resp.StatusCode != 200 {
		t.Errorf("count_tokens: %s", resp.Status)
	}
}

// TestOpenAIResponses: the stream ends with response.completed carrying
// usage, the deltas make the fixed text, and the finished item holds it.
func TestOpenAIResponses(t *testing.T) {
	srv := providersServer(t)
	resp := post(t, srv, "api.openai.com", "/v1/responses", `{"model":"gpt-x","stream":true,"input":[]}`, "Authorization", "Bearer k")
	evs := readSSE(t, resp.Body)
	if got := names(evs); got != "response.created response.output_item.added response.content_part.added response.output_text.delta response.output_text.delta response.output_text.done response.output_item.done response.completed" {
		t.Errorf("events: %s", got)
	}
	var text string
	for _, e := range evs {
		if e.data["type"] != e.name {
			t.Errorf("event %s has type %v", e.name, e.data["type"])
		}
		if e.name == "response.output_text.delta" {
			text += e.data["delta"].(string)
		}
	}
	if text != CodexText {
		t.Errorf("text %q", text)
	}
	done := evs[len(evs)-2].data["item"].(map[string]any)["content"].([]any)[0].(map[string]any)
	if done["text"] != CodexText {
		t.Errorf("output_item.done: %v", done)
	}
	completed := evs[len(evs)-1].data["response"].(map[string]any)
	if u, _ := completed["usage"].(map[string]any); u["total_tokens"] == nil || completed["id"] == nil {
		t.Errorf("response.completed: %v", completed)
	}
	if resp := post(t, srv, "api.openai.com", "/v1/responses", `{"stream":true}`); resp.StatusCode != 401 {
		t.Errorf("without a key: %s", resp.Status)
	}
	// A WebSocket upgrade (Codex tries one first) is refused plainly,
	// so it falls back to HTTPS.
	req, _ := http.NewRequest("GET", srv.URL+"/v1/responses", nil)
	req.Host = "api.openai.com"
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != 404 {
		t.Errorf("websocket upgrade: %v %v", r, err)
	}
}

// TestGemini: streamGenerateContent?alt=sse is data-only events whose
// parts make the fixed text, the last with STOP and usage; a JSON-schema
// request gets JSON of that schema; countTokens counts; no key, 403.
func TestGemini(t *testing.T) {
	srv := providersServer(t)
	const host = "generativelanguage.googleapis.com"
	resp := post(t, srv, host, "/v1beta/models/gemini-x:streamGenerateContent?alt=sse", `{"contents":[]}`, "X-Goog-Api-Key", "k")
	evs := readSSE(t, resp.Body)
	var text string
	for _, e := range evs {
		c := e.data["candidates"].([]any)[0].(map[string]any)
		text += c["content"].(map[string]any)["parts"].([]any)[0].(map[string]any)["text"].(string)
	}
	if len(evs) != 2 || text != GeminiText || names(evs) != "data data" {
		t.Errorf("%d events, text %q", len(evs), text)
	}
	if last := evs[len(evs)-1].data; last["usageMetadata"] == nil || last["candidates"].([]any)[0].(map[string]any)["finishReason"] != "STOP" {
		t.Errorf("last chunk: %v", last)
	}

	schema := `{"generationConfig":{"responseMimeType":"application/json","responseJsonSchema":{"type":"OBJECT","properties":{
		"reasoning":{"type":"STRING"},"next_speaker":{"type":"string","enum":["user","model"]},
		"complexity_score":{"type":"integer","minimum":1},"n":{"type":"number"},"ok":{"type":"boolean"},"l":{"type":"array"}}}}}`
	resp = post(t, srv, host, "/v1beta/models/gemini-x:generateContent?key=k", schema)
	var gc struct {
		Candidates []struct {
			Content struct{ Parts []struct{ Text string } }
		}
	}
	json.NewDecoder(resp.Body).Decode(&gc)
	var got map[string]any
	if err := json.Unmarshal([]byte(gc.Candidates[0].Content.Parts[0].Text), &got); err != nil {
		t.Fatalf("JSON answer: %v (%+v)", err, gc)
	}
	if got["next_speaker"] != "user" || got["complexity_score"] != 1.0 || got["n"] != 1.0 || got["ok"] != false || got["reasoning"] != GeminiText || got["l"] == nil {
		t.Errorf("schema answer: %v", got)
	}
	resp = post(t, srv, host, "/v1beta/models/gemini-x:generateContent", `{}`, "X-Goog-Api-Key", "k")
	json.NewDecoder(resp.Body).Decode(&gc)
	if gc.Candidates[0].Content.Parts[0].Text != GeminiText {
		t.Errorf("plain answer: %+v", gc)
	}
	resp = post(t, srv, host, "/v1beta/models/gemini-x:countTokens", `{}`, "X-Goog-Api-Key", "k")
	var ct map[string]int
	json.NewDecoder(resp.Body).Decode(&ct)
	if ct["totalTokens"] == 0 {
		t.Errorf("countTokens: %v", ct)
	}
	if resp := post(t, srv, host, "/v1beta/models/gemini-x:generateContent", `{}`); resp.StatusCode != 403 {
		t.Errorf("without a key: %s", resp.Status)
	}
	if resp := post(t, srv, host, "/v1beta/models/gemini-x:explode", `{}`, "X-Goog-Api-Key", "k"); resp.StatusCode != 404 {
		t.Errorf("an unknown action: %s", resp.Status)
	}
}

// TestProviderHosts: on a provider's own host a path no fake serves is
// that API's JSON 404, and another provider's path is too; elsewhere the
// catch-all answers as before.
func TestProviderHosts(t *testing.T) {
	srv := providersServer(t)
	for _, c := range []struct{ host, path, want string }{
		{"api.anthropic.com", "/api/claude_code/settings", `"not_found_error"`},
		{"api.anthropic.com", "/v1/responses", `"not_found_error"`},
		{"api.openai.com", "/v1/messages", `"invalid_request_error"`},
		{"generativelanguage.googleapis.com", "/v1/messages", `"NOT_FOUND"`},
	} {
		resp := post(t, srv, c.host, c.path, `{"stream":true}`, "X-Api-Key", "k", "Authorization", "Bearer k")
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 404 || !strings.Contains(string(b), c.want) || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s%s: %s %s", c.host, c.path, resp.Status, b)
		}
	}
	resp := post(t, srv, "ok.sim.test", "/anything", ``)
	if b, _ := io.ReadAll(resp.Body); string(b) != "hello" {
		t.Errorf("catch-all: %q", b)
	}
	// The fakes answer on any host (a test on loopback).
	resp = post(t, srv, "127.0.0.1", "/v1/messages", `{"stream":false}`, "X-Api-Key", "k")
	if b, _ := io.ReadAll(resp.Body); !strings.Contains(string(b), ClaudeText) {
		t.Errorf("on another host: %s", b)
	}
}
