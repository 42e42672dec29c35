// Package workload holds the real-workload scenarios of bottle's benchmark
// harness (bench/run): package installs, git clones and fetches, and model
// API streaming, each run with the same client and the same agent image
// twice in one run — directly on the simulated internet, and in a bottle —
// and reported as bottle ÷ direct.
//
// A scenario has two halves. On the host, Prepare generates what its
// origins serve (packages, wheels, modules, a repository) into a directory
// of its own, deterministically. In the simulated internet's container
// (bench/simnet, which mounts that directory at the same path), Sites turns
// the directory into HTTPS origins, one per DNS name; the harness gives the
// container each name as a network alias, so both the direct client and
// the bottle's sidecar find it through the engine's own DNS, as a user's
// bottle does by default.
package workload

import "net/http"

// A Site is one origin of the simulated internet: a DNS name (under
// bench.test) and what it serves over HTTPS on :443, HTTP/2 and HTTP/1.1,
// with a leaf from the run's test root.
type Site struct {
	Host    string
	Handler http.Handler
}

// Size selects how much a scenario generates: Quick for CI's smoke run
// (seconds), Full for the published table.
type Size int

const (
	Quick Size = iota
	Full
)

// A Scenario is one real workload.
type Scenario struct {
	// Name is the row's scenario, e.g. "npm install, 100 packages".
	Name string
	// Key is short and unique: a directory name, a flag value ("npm").
	Key string
	// Prepare generates the origins' content into dir (on the host).
	Prepare func(dir string, size Size) error
	// Sites serves dir (inside the simulated internet's container).
	Sites func(dir string, size Size) ([]Site, error)
	// Allow is the allowlist fragment (YAML list items under allow:) that
	// lets a bottle reach the sites.
	Allow string
	// Setup runs in the agent before the timed part (not timed), as the
	// agent's user, in a fresh working directory: configuration files,
	// package.json, requirements.txt, go.mod. It must not touch the network.
	Setup string
	// Run is the timed shell script, in the same directory, with fresh
	// caches (each run starts from an empty cache: Setup or Run clears it).
	Run string
	// Verify exits 0 when Run produced the right result (packages
	// installed, the clone checked out); it never looks at time.
	Verify string
}

// All is every scenario, in the order of the table. Each file of this
// package that defines a scenario adds it here.
func All() []Scenario {
	return []Scenario{npm(), pip(), gomod(), git()}
}
