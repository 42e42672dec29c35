// Package fakeapi is the fake model APIs of the three providers whose
// real agent CLIs the end-to-end suite runs (Claude Code, OpenAI Codex
// CLI, Gemini CLI): each speaks its provider's protocol just enough for
// one headless turn, and answers every turn with its own fixed text, which
// a test looks for in the agent's output. e2e/fakenet serves them on the
// simulated internet (the key each was sent is in its /__requests: the
// request log keeps Authorization and every X-* header, and the query);
// the tests import the texts and hosts from here. Test code only.
package fakeapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// The fixed text of each fake's every answer.
const (
	ClaudeText = "BOTTLE-FAKE-CLAUDE-OK"
	CodexText  = "BOTTLE-FAKE-CODEX-OK"
	GeminiText = "BOTTLE-FAKE-GEMINI-OK"
)

// The real API hosts the fakes stand in for (e2e/fakenet answers DNS for
// their domains with --also).
const (
	AnthropicHost = "api.anthropic.com"
	OpenAIHost    = "api.openai.com"
	GeminiHost    = "generativelanguage.googleapis.com"
)

// providerRoutes are the fake APIs, by the real API host they stand in
// for.
var providerRoutes = []struct {
	host     string
	notFound http.HandlerFunc
	routes   map[string]http.HandlerFunc // pattern without the host: handler
}{
	{AnthropicHost, anthropicNotFound, map[string]http.HandlerFunc{
		"POST /v1/messages":              anthropicMessages,
		"POST /v1/messages/count_tokens": anthropicCountTokens,
	}},
	{OpenAIHost, openaiNotFound, map[string]http.HandlerFunc{
		"POST /v1/responses": openaiResponses,
		"GET /v1/models":     openaiModels,
	}},
	{GeminiHost, geminiNotFound, map[string]http.HandlerFunc{
		"POST /v1beta/models/": gemini,
	}},
}

// Register adds the fake APIs to mux, at their real paths on
// every host (a test on loopback reaches them by any name), and on their
// own host, where any other path is a JSON 404 as the real API gives, not
// the catch-all's "hello". (A pattern with a host wins over one without:
// so each route is registered with its host too.)
func Register(mux *http.ServeMux) {
	for _, p := range providerRoutes {
		for pattern, h := range p.routes {
			method, path, _ := strings.Cut(pattern, " ")
			mux.HandleFunc(pattern, h)
			mux.HandleFunc(method+" "+p.host+path, h)
		}
		mux.HandleFunc(p.host+"/", p.notFound)
	}
}

// readJSON decodes a request body into v (a bounded read: the CLIs send
// their whole system prompt and tool list, tens of kB).
func readJSON(r *http.Request, v any) error {
	return json.NewDecoder(io.LimitReader(r.Body, 8<<20)).Decode(v)
}

// sse writes one server-sent event (event may be "": data only) and
// flushes it, so a client sees the stream as it comes.
func sse(w http.ResponseWriter, event string, data any) {
	b, _ := json.Marshal(data)
	if event != "" {
		fmt.Fprintf(w, "event: %s\n", event)
	}
	fmt.Fprintf(w, "data: %s\n\n", b)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}

func sseHeaders(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// halves splits the fixed text in two deltas, so a client that only
// printed the first or the last would not show it whole.
func halves(s string) []string { return []string{s[:len(s)/2], s[len(s)/2:]} }

// Anthropic's Messages API (POST /v1/messages): the key comes in
// x-api-key (or Authorization: Bearer for an OAuth token).
func anthropicMessages(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model  string `json:"model"`
		Stream bool   `json:"stream"`
	}
	if err := readJSON(r, &req); err != nil {
		anthropicError(w, http.StatusBadRequest, "invalid_request_error", "body: "+err.Error())
		return
	}
	if r.Header.Get("X-Api-Key") == "" && r.Header.Get("Authorization") == "" {
		anthropicError(w, http.StatusUnauthorized, "authentication_error", "x-api-key header is required")
		return
	}
	const id = "msg_bottle_fake"
	usage := map[string]int{"input_tokens": 12, "output_tokens": 6}
	if !req.Stream {
		writeJSON(w, http.StatusOK, map[string]any{
			"id": id, "type": "message", "role": "assistant", "model": req.Model,
			"content":     []any{map[string]any{"type": "text", "text": ClaudeText}},
			"stop_reason": "end_turn", "stop_sequence": nil, "usage": usage,
		})
		return
	}
	sseHeaders(w)
	w.Header().Set("Request-Id", "req_bottle_fake")
	sse(w, "message_start", map[string]any{"type": "message_start", "message": map[string]any{
		"id": id, "type": "message", "role": "assistant", "model": req.Model, "content": []any{},
		"stop_reason": nil, "stop_sequence": nil, "usage": map[string]int{"input_tokens": 12, "output_tokens": 1},
	}})
	sse(w, "content_block_start", map[string]any{"type": "content_block_start", "index": 0,
		"content_block": map[string]any{"type": "text", "text": ""}})
	sse(w, "ping", map[string]any{"type": "ping"})
	for _, part := range halves(ClaudeText) {
		sse(w, "content_block_delta", map[string]any{"type": "content_block_delta", "index": 0,
			"delta": map[string]any{"type": "text_delta", "text": part}})
	}
	sse(w, "content_block_stop", map[string]any{"type": "content_block_stop", "index": 0})
	sse(w, "message_delta", map[string]any{"type": "message_delta",
		"delta": map[string]any{"stop_reason": "end_turn", "stop_sequence": nil},
		"usage": map[string]int{"output_tokens": 6}})
	sse(w, "message_stop", map[string]any{"type": "message_stop"})
}

func anthropicCountTokens(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]int{"input_tokens": 12})
}

func anthropicError(w http.ResponseWriter, code int, kind, msg string) {
	writeJSON(w, code, map[string]any{"type": "error", "error": map[string]string{"type": kind, "message": msg}})
}

func anthropicNotFound(w http.ResponseWriter, r *http.Request) {
	anthropicError(w, http.StatusNotFound, "not_found_error", "Not Found")
}

// OpenAI's Responses API (POST /v1/responses), as Codex CLI streams it:
// the key comes in Authorization: Bearer. The events are the ones
// codex-rs's client acts on (response.created, output_item.added,
// output_text.delta, output_item.done, response.completed with usage);
// without response.completed it reports the stream as disconnected.
func openaiResponses(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model  string `json:"model"`
		Stream bool   `json:"stream"`
	}
	if err := readJSON(r, &req); err != nil {
		openaiError(w, http.StatusBadRequest, "invalid_request_error", "body: "+err.Error())
		return
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		openaiError(w, http.StatusUnauthorized, "invalid_request_error", "You didn't provide an API key.")
		return
	}
	const respID, itemID = "resp_bottle_fake", "msg_bottle_fake"
	done := map[string]any{"type": "message", "id": itemID, "role": "assistant", "status": "completed",
		"content": []any{map[string]any{"type": "output_text", "text": CodexText, "annotations": []any{}}}}
	usage := map[string]any{"input_tokens": 12, "input_tokens_details": map[string]int{"cached_tokens": 0},
		"output_tokens": 6, "output_tokens_details": map[string]int{"reasoning_tokens": 0}, "total_tokens": 18}
	response := func(status string, output []any, usage any) map[string]any {
		return map[string]any{"id": respID, "object": "response", "status": status, "model": req.Model, "output": output, "usage": usage}
	}
	if !req.Stream {
		writeJSON(w, http.StatusOK, response("completed", []any{done}, usage))
		return
	}
	sseHeaders(w)
	sse(w, "response.created", map[string]any{"type": "response.created", "response": response("in_progress", []any{}, nil)})
	sse(w, "response.output_item.added", map[string]any{"type": "response.output_item.added", "output_index": 0,
		"item": map[string]any{"type": "message", "id": itemID, "role": "assistant", "status": "in_progress", "content": []any{}}})
	sse(w, "response.content_part.added", map[string]any{"type": "response.content_part.added", "item_id": itemID,
		"output_index": 0, "content_index": 0, "part": map[string]any{"type": "output_text", "text": "", "annotations": []any{}}})
	for _, part := range halves(CodexText) {
		sse(w, "response.output_text.delta", map[string]any{"type": "response.output_text.delta", "item_id": itemID,
			"output_index": 0, "content_index": 0, "delta": part})
	}
	sse(w, "response.output_text.done", map[string]any{"type": "response.output_text.done", "item_id": itemID,
		"output_index": 0, "content_index": 0, "text": CodexText})
	sse(w, "response.output_item.done", map[string]any{"type": "response.output_item.done", "output_index": 0, "item": done})
	sse(w, "response.completed", map[string]any{"type": "response.completed", "response": response("completed", []any{done}, usage)})
}

func openaiModels(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": []any{
		map[string]any{"id": "gpt-5", "object": "model", "created": 1700000000, "owned_by": "openai"},
	}})
}

func openaiError(w http.ResponseWriter, code int, kind, msg string) {
	writeJSON(w, code, map[string]any{"error": map[string]any{"message": msg, "type": kind, "param": nil, "code": nil}})
}

func openaiNotFound(w http.ResponseWriter, r *http.Request) {
	openaiError(w, http.StatusNotFound, "invalid_request_error", "Invalid URL ("+r.Method+" "+r.URL.Path+")")
}

// The Gemini API (POST /v1beta/models/MODEL:ACTION): the key comes in
// x-goog-api-key (or ?key=). ACTION is streamGenerateContent (with
// ?alt=sse: one data line a chunk), generateContent or countTokens.
func gemini(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/v1beta/models/")
	model, action, ok := strings.Cut(rest, ":")
	if !ok || model == "" || strings.Contains(model, "/") {
		geminiNotFound(w, r)
		return
	}
	var req map[string]any
	if err := readJSON(r, &req); err != nil {
		geminiError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "body: "+err.Error())
		return
	}
	if r.Header.Get("X-Goog-Api-Key") == "" && r.URL.Query().Get("key") == "" && r.Header.Get("Authorization") == "" {
		geminiError(w, http.StatusForbidden, "PERMISSION_DENIED", "Method doesn't allow unregistered callers. Please use API Key.")
		return
	}
	chunk := func(text string, last bool) map[string]any {
		c := map[string]any{"content": map[string]any{"role": "model", "parts": []any{map[string]any{"text": text}}}, "index": 0}
		out := map[string]any{"candidates": []any{c}, "modelVersion": model, "responseId": "bottle-fake"}
		if last {
			c["finishReason"] = "STOP"
			out["usageMetadata"] = map[string]int{"promptTokenCount": 12, "candidatesTokenCount": 6, "totalTokenCount": 18}
		}
		return out
	}
	switch action {
	case "countTokens":
		writeJSON(w, http.StatusOK, map[string]int{"totalTokens": 12})
	case "generateContent":
		text := GeminiText
		// Gemini CLI asks small questions of its own (which model to
		// route a turn to, who speaks next) in JSON of a schema it sends,
		// and retries for a minute and a half an answer that is not.
		if gc, _ := req["generationConfig"].(map[string]any); gc != nil && gc["responseMimeType"] == "application/json" {
			schema, _ := gc["responseJsonSchema"].(map[string]any)
			if schema == nil {
				schema, _ = gc["responseSchema"].(map[string]any)
			}
			b, _ := json.Marshal(fillSchema(schema))
			text = string(b)
		}
		writeJSON(w, http.StatusOK, chunk(text, true))
	case "streamGenerateContent":
		if r.URL.Query().Get("alt") != "sse" {
			// Without alt=sse the real API streams one JSON array.
			writeJSON(w, http.StatusOK, []any{chunk(GeminiText, true)})
			return
		}
		sseHeaders(w)
		p := halves(GeminiText)
		sse(w, "", chunk(p[0], false))
		sse(w, "", chunk(p[1], true))
	default:
		geminiNotFound(w, r)
	}
}

func geminiError(w http.ResponseWriter, code int, status, msg string) {
	writeJSON(w, code, map[string]any{"error": map[string]any{"code": code, "message": msg, "status": status}})
}

func geminiNotFound(w http.ResponseWriter, r *http.Request) {
	geminiError(w, http.StatusNotFound, "NOT_FOUND", "Requested entity was not found.")
}

// fillSchema makes a value of a JSON schema (the subset Gemini's
// responseSchema has: type, properties, enum, items, minimum): the first
// of an enum, the least number allowed, the fixed text for a string; so
// a question "who speaks next, user or model?" is answered "user", and
// the turn ends.
func fillSchema(schema map[string]any) any {
	if enum, _ := schema["enum"].([]any); len(enum) > 0 {
		return enum[0]
	}
	typ, _ := schema["type"].(string)
	switch strings.ToLower(typ) {
	case "object":
		out := map[string]any{}
		props, _ := schema["properties"].(map[string]any)
		for k, v := range props {
			sub, _ := v.(map[string]any)
			out[k] = fillSchema(sub)
		}
		return out
	case "array":
		return []any{}
	case "integer", "number":
		if m, ok := schema["minimum"].(float64); ok {
			return m
		}
		return 1
	case "boolean":
		return false
	default:
		return GeminiText
	}
}
