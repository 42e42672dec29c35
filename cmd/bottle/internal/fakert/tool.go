package fakert

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/internal/contract"
)

const toolUsage = `usage: fakert COMMAND
  state [-resources]           print the state, sorted (-resources: no images)
  argv                         print the argv log, temporary names replaced
  network NAME [K=V]...        add a network with labels (a stranger's, or a half-made bottle's)
  container NAME STATE [K=V]...  add a container (STATE: running, exited) with labels
  image TAG [ID]               add an image (again: with a new ID, as a rebuild gives it)
  log NAME                     set a container's log to stdin
  end NAME CODE                end the detached command (a sleep) running in a container with CODE
  fs NAME                      print the directory that holds a container's file system
  sidecar DIR [-reject MSG] [-count N] [-timeout D]
                               play the sidecar of the bottle whose state is DIR: write
                               logs/reload.json whenever config/allowlist.yaml changes
`

// tool runs the tests' own commands.
func (s store) tool(ctx context.Context, cfg Config, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, toolUsage)
		return ExitUnknown
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "fakert %s: %v\n", args[0], err)
		return 1
	}
	change := func(f func(*State) error) int {
		var ferr error
		if err := s.locked(func(st *State) bool { ferr = f(st); return ferr == nil }); err != nil {
			return fail(err)
		}
		if ferr != nil {
			return fail(ferr)
		}
		return 0
	}
	switch cmd, rest := args[0], args[1:]; {
	case cmd == "state" && (len(rest) == 0 || len(rest) == 1 && rest[0] == "-resources"):
		var b strings.Builder
		if err := s.locked(func(st *State) bool { st.Print(&b, len(rest) == 1); return false }); err != nil {
			return fail(err)
		}
		io.WriteString(stdout, cfg.name(b.String()))
		return 0
	case cmd == "argv" && len(rest) == 0:
		data, err := os.ReadFile(s.path("argv.log"))
		if err != nil && !os.IsNotExist(err) {
			return fail(err)
		}
		io.WriteString(stdout, cfg.name(NormalizeArgv(string(data))))
		return 0
	case cmd == "network" && len(rest) >= 1:
		return change(func(st *State) error {
			c := &call{st: st}
			c.newNetwork(rest[0], false, nil, labels(rest[1:]))
			return nil
		})
	case cmd == "container" && len(rest) >= 2 && (rest[1] == "running" || rest[1] == "exited"):
		return change(func(st *State) error {
			st.Containers[rest[0]] = &Container{Name: rest[0], Image: "stranger:1", State: rest[1], Labels: labels(rest[2:])}
			return nil
		})
	case cmd == "image" && (len(rest) == 1 || len(rest) == 2):
		return change(func(st *State) error {
			img := &Image{Tag: rest[0]}
			if len(rest) == 2 {
				img.ID = rest[1]
			}
			st.Images[rest[0]] = img
			return nil
		})
	case cmd == "log" && len(rest) == 1:
		data, err := io.ReadAll(stdin)
		if err != nil {
			return fail(err)
		}
		return change(func(st *State) error {
			ct, ok := st.Containers[rest[0]]
			if !ok {
				return fmt.Errorf("no container %s", rest[0])
			}
			ct.Log = string(data)
			return nil
		})
	case cmd == "end" && len(rest) == 2:
		code, err := strconv.Atoi(rest[1])
		if err != nil {
			return fail(err)
		}
		r := 0
		if err := s.locked(func(st *State) bool {
			c := &call{st: st, errw: stderr}
			r = c.end(rest[0], code)
			return c.dirty
		}); err != nil {
			return fail(err)
		}
		return r
	case cmd == "fs" && len(rest) == 1:
		fmt.Fprintln(stdout, rootOf(cfg, rest[0]))
		return 0
	case cmd == "sidecar" && len(rest) >= 1:
		return sidecar(ctx, rest, stderr)
	}
	fmt.Fprintf(stderr, "fakert: unknown command %q\n%s", strings.Join(args, " "), toolUsage)
	return ExitUnknown
}

var (
	tempNames = regexp.MustCompile(`(bottle-(?:env|build)-)[0-9]+`)
	imageTags = regexp.MustCompile(`(bottle-(?:sidecar|agent)):[0-9a-f]{16}`)
	selfTest  = regexp.MustCompile(`bottle-self-test-[0-9a-f]+\.invalid`)
	launchID  = regexp.MustCompile(`(dev\.bottle\.launch[=":]+)[0-9a-f]+`)
	batch     = regexp.MustCompile(`^(.* /bottle-sidecar probe --timeout \S+ batch )'(.*)'$`)
)

// normalize replaces what differs from run to run (temporary directories,
// content-hash tags, the self-test's random name, the launch id label) with
// fixed words.
func normalize(s string) string {
	s = tempNames.ReplaceAllString(s, "${1}N")
	s = imageTags.ReplaceAllString(s, "$1:HASH")
	s = launchID.ReplaceAllString(s, "${1}LAUNCH")
	return selfTest.ReplaceAllString(s, "bottle-self-test-TOKEN.invalid")
}

// name replaces each of cfg.Names' values in s with its key, longest
// first.
func (cfg Config) name(s string) string {
	keys := slices.Collect(maps.Keys(cfg.Names))
	slices.SortFunc(keys, func(a, b string) int { return len(cfg.Names[b]) - len(cfg.Names[a]) })
	for _, k := range keys {
		s = strings.ReplaceAll(s, cfg.Names[k], k)
	}
	return s
}

// normalizeBatch renders a self-test's probe batch one probe a line
// (its kind, then its args), sorted, in TCP probes the host's own
// addresses as HOST and the self-test listener's port as PORT (the fake's
// networks are 172.30.N.0/24 and the launcher's own 172.31.N.0/24), and
// duplicates dropped.
func normalizeBatch(js string) string {
	var specs []contract.ProbeSpec
	if err := json.Unmarshal([]byte(js), &specs); err != nil {
		return "'" + js + "'"
	}
	var lines []string
	for _, p := range specs {
		args := slices.Clone(p.Args)
		if host, port, err := net.SplitHostPort(args[0]); p.Kind == "tcp" && err == nil {
			if !strings.HasPrefix(host, "172.30.") && !strings.HasPrefix(host, "172.31.") {
				host = "HOST"
			}
			if port != "3128" && port != "53" && port != "3129" {
				port = "PORT"
			}
			args[0] = net.JoinHostPort(host, port)
		}
		line := fmt.Sprintf("\n  %s %s", p.Kind, strings.Join(args, " "))
		if p.Proxy != "" {
			line += " (proxy " + p.Proxy + ")"
		}
		lines = append(lines, line+fmt.Sprintf(" (%dms)", p.TimeoutMS))
	}
	slices.Sort(lines)
	return strings.Join(slices.Compact(lines), "")
}

// NormalizeArgv makes an argv log comparable across runs and machines:
// normalize on every line; a self-test's probe batch is rendered one
// probe a line (normalizeBatch); and each run of probe lines is sorted and
// its duplicates dropped.
func NormalizeArgv(log string) string {
	var out, block []string
	flush := func() {
		slices.Sort(block)
		out = append(out, slices.Compact(block)...)
		block = nil
	}
	for _, line := range strings.Split(strings.TrimSuffix(log, "\n"), "\n") {
		if line == "" {
			continue
		}
		line = normalize(line)
		if m := batch.FindStringSubmatch(line); m != nil {
			line = m[1] + normalizeBatch(m[2])
		}
		if strings.Contains(line, " /bottle-sidecar probe ") {
			block = append(block, line)
			continue
		}
		flush()
		out = append(out, line)
	}
	flush()
	out = subnetLookupBeforeCreate(probeRemovalAfterBatch(out))
	if len(out) == 0 {
		return ""
	}
	return strings.Join(out, "\n") + "\n"
}

var subnetLookup = regexp.MustCompile(`^docker network (ls -q|inspect --format .*)$`)

// subnetLookupBeforeCreate puts the launcher's lookup of the engine's
// subnets right before the first network create: it runs in the
// background from the launch's first step, beside the image checks.
func subnetLookupBeforeCreate(lines []string) []string {
	var lookups, rest []string
	for _, l := range lines {
		if subnetLookup.MatchString(l) {
			lookups = append(lookups, l)
		} else {
			rest = append(rest, l)
		}
	}
	for i, l := range rest {
		if strings.HasPrefix(l, "docker network create ") {
			return slices.Concat(rest[:i], lookups, rest[i:])
		}
	}
	return append(rest, lookups...)
}

var probeRemoval = regexp.MustCompile(`^(docker rm -f|container stop|container delete --force) bottle-\S+-probe$`)

// probeRemovalAfterBatch puts the removal of the self-test's probe
// container right after its probe batch: the launcher removes it in the
// background, beside the provisioning, so where it falls among those
// calls differs from run to run.
func probeRemovalAfterBatch(lines []string) []string {
	var out []string
	lastBatch := -1
	for _, l := range lines {
		switch {
		case probeRemoval.MatchString(l) && lastBatch >= 0:
			// In their own order (Apple's stop, then delete).
			lastBatch++
			out = slices.Insert(out, lastBatch, l)
		case strings.Contains(l, " /bottle-sidecar probe --timeout "):
			out = append(out, l)
			lastBatch = len(out) - 1
		default:
			out = append(out, l)
		}
	}
	return out
}

// sidecar plays a bottle's sidecar for `bottle allow … --bottle`: each time
// the live allowlist's content differs from the one the status file names,
// it loads it as the real one does (an invalid file is rejected with its
// errors; -reject rejects any) and writes the status. It ends after -count
// loads, or fails after -timeout.
func sidecar(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("fakert sidecar", flag.ContinueOnError)
	fs.SetOutput(stderr)
	reject := fs.String("reject", "", "reject every file with this message")
	count := fs.Int("count", 1, "loads before ending")
	creds := fs.Int("credentials", 0, "also confirm this many loads of the credentials file before ending")
	timeout := fs.Duration("timeout", 20*time.Second, "give up after this long")
	dir := args[0]
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 {
		return ExitUnknown
	}
	policy := filepath.Join(dir, contract.ConfigDir, contract.AllowlistFile)
	status := filepath.Join(dir, contract.LogDir, contract.StatusFile)
	credsAt := filepath.Join(dir, contract.ConfigDir, contract.CredentialsFile)
	deadline := time.Now().Add(*timeout)
	for n, c := 0, 0; n < *count || c < *creds; {
		if data, err := os.ReadFile(credsAt); err == nil && c < *creds {
			if st, err := contract.ReadStatus(status); err == nil && st.CredentialsTried != contract.Hash(data) {
				st.CredentialsTried, st.CredentialsOK = contract.Hash(data), true
				if err := contract.WriteStatus(status, st); err != nil {
					fmt.Fprintf(stderr, "fakert sidecar: %v\n", err)
					return 1
				}
				c++
				continue
			}
		}
		data, err := os.ReadFile(policy)
		if err != nil {
			fmt.Fprintf(stderr, "fakert sidecar: %v\n", err)
			return 1
		}
		h := contract.Hash(data)
		prev, perr := contract.ReadStatus(status)
		if n < *count && (perr != nil || prev.Tried != h) {
			st := contract.ReloadStatus{Time: time.Now().UTC(), Tried: h, Applied: prev.Applied,
				CredentialsTried: prev.CredentialsTried, CredentialsOK: prev.CredentialsOK}
			pol, err := allowlist.Parse(contract.AllowlistFile, data)
			switch {
			case *reject != "":
				st.Errors = *reject
			case err != nil:
				st.Errors = err.Error()
			default:
				st.OK, st.Applied = true, h
				st.Mode, st.Allow, st.Deny = pol.Mode().String(), len(pol.Allow()), len(pol.DenyRules())
			}
			if err := contract.WriteStatus(status, st); err != nil {
				fmt.Fprintf(stderr, "fakert sidecar: %v\n", err)
				return 1
			}
			n++
			continue
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			fmt.Fprintf(stderr, "fakert sidecar: %s (or its credentials) did not change within %s\n", policy, *timeout)
			return 1
		}
		// The real sidecar watches the file; the fake looks again soon.
		time.Sleep(10 * time.Millisecond)
	}
	return 0
}
