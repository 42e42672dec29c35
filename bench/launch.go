package main

// The launch benchmark: how long `bottle launch` takes, warm and cold,
// step by step.
//
//   - warm: the bottle's images (the sidecar's, and the agent's over the
//     agent base) are built and cached, as on every launch but the first
//     after a change: what a user waits for most days.
//   - cold: both must be built: the sidecar image from a bottle-sidecar
//     the engine has never seen (a copy with a unique trailer, so a new
//     content tag), and the agent image with --rebuild (every step of its
//     Dockerfile again, no layer cache). The agent base is on the machine,
//     and no registry is reachable; nothing is pulled.
//
// Each launch is a real bottle (-d, no workspace, no command), stopped and
// removed after. Its total is the wall time of the bottle process; its
// steps come from the bottle's metadata (bottle.json's "steps", written
// by the launcher: launcher.StepTime), which is what `bottle launch -v`
// prints after each step.

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// launchMeta is what the benchmark reads of a bottle's bottle.json.
type launchMeta struct {
	SidecarImage string `json:"sidecar_image"`
	Steps        []struct {
		Step string  `json:"step"`
		MS   float64 `json:"ms"`
	} `json:"steps"`
}

// launchRun is one timed launch.
type launchRun struct {
	total time.Duration
	steps map[string]float64 // ms
	order []string
}

// launchRows measures warm and cold launches of a real bottle (Full: 5
// warm and 2 cold, the median of each; quick: one of each) with the agent
// image built over agentBase, on egress network egressNet when it is not
// "" (else the bottle makes its own), and returns a row for each kind's
// total and one for each of its steps.
func launchRows(bottleBin, agentBase, egressNet string, quick bool) ([]Row, error) {
	warmN, coldN := 5, 2
	if quick {
		warmN, coldN = 1, 1
	}
	tmp, err := os.MkdirTemp("", "bottle-bench-launch-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	allow := filepath.Join(tmp, "allowlist.yaml")
	if err := os.WriteFile(allow, []byte("version: 1\nallow:\n  - host: launch.bench.test\n"), 0o644); err != nil {
		return nil, err
	}
	// bottle and its bottle-sidecar, side by side, where the launch finds
	// them; cold launches get a sidecar of their own.
	bin := filepath.Join(tmp, "bin")
	if err := copySidecarPair(bottleBin, bin, false); err != nil {
		return nil, err
	}
	b := benchLauncher{bin: filepath.Join(bin, "bottle"), dir: tmp, allow: allow, agentBase: agentBase, egress: egressNet}
	// The first launch builds what the warm ones find cached.
	if _, err := b.launch("bench-launch-prime", false); err != nil {
		return nil, fmt.Errorf("launch (priming the images): %w", err)
	}
	var warm, cold []launchRun
	for i := range warmN {
		r, err := b.launch(fmt.Sprintf("bench-launch-warm-%d", i), false)
		if err != nil {
			return nil, fmt.Errorf("warm launch: %w", err)
		}
		warm = append(warm, r)
	}
	for i := range coldN {
		coldBin := filepath.Join(tmp, fmt.Sprintf("cold-%d", i))
		if err := copySidecarPair(bottleBin, coldBin, true); err != nil {
			return nil, err
		}
		c := b
		c.bin = filepath.Join(coldBin, "bottle")
		r, err := c.launch(fmt.Sprintf("bench-launch-cold-%d", i), true)
		if err != nil {
			return nil, fmt.Errorf("cold launch: %w", err)
		}
		cold = append(cold, r)
	}
	return append(launchKindRows("warm", warm), launchKindRows("cold", cold)...), nil
}

// launchKindRows are the rows of one kind of launch: the median total, with
// the median of each step in its note, then one row a step.
func launchKindRows(kind string, runs []launchRun) []Row {
	if len(runs) == 0 {
		return nil
	}
	var totals []float64
	for _, r := range runs {
		totals = append(totals, float64(r.total)/float64(time.Millisecond))
	}
	var parts []string
	var steps []Row
	for _, s := range runs[0].order {
		var ms []float64
		for _, r := range runs {
			ms = append(ms, r.steps[s])
		}
		m := median(ms)
		parts = append(parts, fmt.Sprintf("%s %.0fms", s, m))
		steps = append(steps, Row{Scenario: "launch " + kind + ": " + s, Subject: "bottle", Unit: "ms", P50ms: m,
			Note: fmt.Sprintf("median of %d", len(runs))})
	}
	total := Row{Scenario: "launch " + kind, Subject: "bottle", Unit: "ms", P50ms: median(totals),
		Note: fmt.Sprintf("median of %d; steps: %s", len(runs), strings.Join(parts, ", "))}
	return append([]Row{total}, steps...)
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// copySidecarPair puts bottle and the bottle-sidecar beside bottleBin into
// dir; unique appends random bytes to the sidecar (a static binary runs
// the same with a trailer), so its image is one the engine has never built.
func copySidecarPair(bottleBin, dir string, unique bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, name := range []string{"bottle", "bottle-sidecar"} {
		src := bottleBin
		if name == "bottle-sidecar" {
			src = filepath.Join(filepath.Dir(bottleBin), "bottle-sidecar")
		}
		data, err := os.ReadFile(src)
		if err != nil {
			return fmt.Errorf("the launch benchmark needs bottle-sidecar beside bottle: %w", err)
		}
		if unique && name == "bottle-sidecar" {
			var tok [16]byte
			rand.Read(tok[:])
			data = append(data, []byte("\nbottle-bench-cold-"+hex.EncodeToString(tok[:])+"\n")...)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o755); err != nil {
			return err
		}
	}
	return nil
}

// benchLauncher runs bottle launches in a state directory of its own.
type benchLauncher struct {
	bin, dir, allow string
	agentBase       string
	egress          string
}

func (b benchLauncher) env() []string {
	return append(os.Environ(), "XDG_STATE_HOME="+filepath.Join(b.dir, "state"), "BOTTLE_AGENT_BASE="+b.agentBase, "BOTTLE_BACKEND=docker")
}

func (b benchLauncher) bottle(args ...string) ([]byte, error) {
	cmd := exec.Command(b.bin, args...)
	cmd.Dir, cmd.Env = b.dir, b.env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("bottle %s: %v\n%s", strings.Join(args, " "), err, lastLines(string(out), 15))
	}
	return out, nil
}

// launch launches bottle name (cold: --rebuild, and the sidecar image is
// new), reads its steps, and stops and removes it, and a cold launch's
// sidecar image.
func (b benchLauncher) launch(name string, cold bool) (launchRun, error) {
	args := []string{"launch", name, "-d", "-q", "--no-project", "--allowlist", b.allow}
	if b.egress != "" {
		args = append(args, "--egress-network", b.egress)
	}
	if cold {
		args = append(args, "--rebuild")
	}
	start := time.Now()
	_, err := b.bottle(args...)
	total := time.Since(start)
	var m launchMeta
	data, rerr := os.ReadFile(filepath.Join(b.dir, "state", "bottle", name, "bottle.json"))
	b.bottle("stop", name)
	b.bottle("rm", name)
	if cold && json.Unmarshal(data, &m) == nil && m.SidecarImage != "" {
		// Its tag is this run's alone.
		exec.Command("docker", "rmi", m.SidecarImage).Run()
	}
	if err != nil {
		return launchRun{}, err
	}
	if rerr != nil {
		return launchRun{}, rerr
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return launchRun{}, fmt.Errorf("%s's bottle.json: %v", name, err)
	}
	r := launchRun{total: total, steps: map[string]float64{}}
	for _, s := range m.Steps {
		r.steps[s.Step] += s.MS
		if !slices.Contains(r.order, s.Step) {
			r.order = append(r.order, s.Step)
		}
	}
	if len(r.order) == 0 {
		return launchRun{}, fmt.Errorf("%s's bottle.json has no step timings (a bottle built before they were recorded?)", name)
	}
	return r, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
