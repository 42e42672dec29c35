// Package fakemodel is the contract between e2e/fakeagent (a test program
// standing in for an agent CLI), the fake model API it calls on the
// simulated internet (e2e/fakenet) and the end-to-end test that runs both
// through a bottle: the paths, the variables, the request and the answer.
// Test code only; never shipped.
package fakemodel

import (
	"fmt"
	"strings"
)

const (
	// Path is the fake model API's streaming endpoint (POST a Request,
	// the key in KeyHeader); the answer is server-sent events, one per
	// Chunks element, then "data: [DONE]".
	Path = "/fakemodel/v1/stream"
	// ReleasePath (POST, fakenet's control side) lets one held stream
	// (Request.Hold) go on.
	ReleasePath = "/__model-release"
	// KeyHeader carries the API key; fakenet's request log records it.
	KeyHeader = "X-Api-Key"
	// PlaceholderPrefix begins every placeholder bottle gives the agent
	// in place of a credential: a key that arrives with it was not
	// swapped by the proxy, and the model refuses it (401) as a real API
	// refuses a wrong key.
	PlaceholderPrefix = "bottle-secret-"
)

// The fake agent's documented variables, which a recipe sets.
const (
	// KeyVar holds the API key (a recipe's credential agent_env).
	KeyVar = "FAKEAGENT_API_KEY"
	// BaseURLVar is the API's base URL (Path's host and its directory).
	BaseURLVar = "FAKEAGENT_BASE_URL"
	// HoldVar, when "1", makes the agent ask the model to hold its answer
	// after the first chunk (Request.Hold).
	HoldVar = "FAKEAGENT_HOLD"
)

// The fake agent's files, under the agent user's home, which a recipe
// names as its instructions and skills; OutputFile is written in the
// working directory.
const (
	InstructionsFile = ".fakeagent/AGENTS.md"
	SkillsDir        = ".fakeagent/skills"
	OutputFile       = "agent-output.txt"
)

// Request is what the fake agent POSTs to Path.
type Request struct {
	Prompt       string   `json:"prompt"`
	Instructions string   `json:"instructions"`
	Skills       []string `json:"skills"`
	// Hold asks the model to stop after its first event until a POST to
	// ReleasePath: the agent is then running, mid-answer, for as long as
	// the test looks at it.
	Hold bool `json:"hold"`
}

// Chunks are the events the model answers req with, in order. The first
// repeats the prompt, so a test sees which request was answered.
func Chunks(req Request) []string {
	return []string{
		"fake-model chunk 1/3: heard " + strings.Join(strings.Fields(req.Prompt), " "),
		fmt.Sprintf("fake-model chunk 2/3: %d bytes of instructions and %d skills", len(req.Instructions), len(req.Skills)),
		"fake-model chunk 3/3: done",
	}
}
