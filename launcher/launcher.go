package launcher

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"bottle.dev/bottle/internal/atomicfile"
	"bottle.dev/bottle/internal/contract"
	"bottle.dev/bottle/recipe"
	"bottle.dev/bottle/secret/source"
)

// Spec is what the user asked for.
type Spec struct {
	Name          string
	Allowlist     string   // path of the allowlist to start from
	Image         string   // agent image to use as is
	Dockerfile    string   // or a Dockerfile to build it from; neither: the default agent image
	AgentBase     string   // BASE_IMAGE for the default agent image ("" keeps its default)
	Workspace     string   // directory copied into /workspace
	Env           []string // K=V for the agent
	EgressNetwork string   // existing network to use as the egress side (not created or removed)
	UpstreamDNS   string   // resolvers the sidecar uses (HOST:PORT[,…])
	UpstreamCA    string   // extra roots for upstream TLS: the sidecar's, and an agent recipe's install steps' (NODE_EXTRA_CA_CERTS)
	SidecarBinary string   // static bottle-sidecar to use; "" finds one
	Limits        Limits   // what the agent may take; the sidecar's limits are bottle's own

	// AllowlistSource is the file a person edits to change Allowlist, when
	// Allowlist is a copy made from it: the project file whose inline rules
	// it holds. Empty: Allowlist itself. It is recorded in the bottle's
	// metadata (Bottle.AllowlistSource).
	AllowlistSource string
	// GitIdentity is who the agent's git commits say made them, set over
	// any the image has (bottle.yaml's git_identity). Zero: the host's git
	// config's user.name and user.email, else one that names the bottle,
	// either only where the image sets none.
	GitIdentity GitIdentity
	// Rebuild builds the agent image again, every step, even when its
	// inputs have not changed (a Dockerfile whose RUN steps fetch things).
	Rebuild bool
	// Approvals overrides the allowlist's `approvals:` for this launch:
	// "ask" holds what a human may allow (bottle approve), "off" never
	// holds; "" leaves it to the allowlist. Recorded in the metadata
	// (Bottle.Approvals).
	Approvals string
	// Command is started in the agent, in the background, once the bottle
	// is ready (launch -d -- CMD): its output and exit status go to the
	// command directory. A command the caller attaches to is the caller's
	// to run.
	Command []string

	// Agent is the agent recipe (bottle launch --agent), nil for none: its
	// install step is built into the agent image (a layer over it, cached by
	// Agent.Sum), its rules and credentials merged into the bottle's live
	// allowlist (allowlist.Merge, origin "agent NAME"), its Env given to the
	// agent, and its Files, Prompt and Skills provisioned after the
	// self-test.
	Agent *recipe.Recipe
	// Prompt is a host file copied to Agent.Instructions; Skills a host
	// directory copied to Agent.Skills (both need Agent).
	Prompt string
	Skills string
}

// ErrNoBottle is returned for a name that has neither metadata nor
// resources: errors.Is(err, ErrNoBottle) holds for every NoBottleError.
var ErrNoBottle = errors.New("no such bottle")

// NoBottleError is the error for a name that is not a bottle, in the words
// every verb uses.
type NoBottleError struct{ Name string }

func (e *NoBottleError) Error() string {
	return fmt.Sprintf("no bottle named %q (see bottle list)", e.Name)
}

// Is makes errors.Is(err, ErrNoBottle) true.
func (e *NoBottleError) Is(target error) bool { return target == ErrNoBottle }

// Launcher makes and unmakes bottles on one backend.
type Launcher struct {
	Backend  Backend
	StateDir string    // $XDG_STATE_HOME/bottle
	Progress io.Writer // step-by-step progress (stderr)
	Verbose  bool      // show build output
	// Runner runs the host programs the launcher needs itself, not the
	// engine's: the go build of bottle-sidecar in a checkout. Nil:
	// ExecRunner.
	Runner Runner
	// BackendNamed returns the backend of that name (Bottle.Backend), for
	// what looks at every bottle of the state directory (List, Cleanup,
	// Prune): each is asked on the backend it was launched on. Nil: only
	// Backend is asked, and bottles of another backend are unknown.
	BackendNamed func(ctx context.Context, name string) (Backend, error)
	// Secrets resolves the sources of the allowlist's credentials, at
	// launch and at RefreshSecrets. Nil: the process's environment, PATH
	// and home (a zero source.Resolver).
	Secrets *source.Resolver
}

// Bottle is the metadata of a launched bottle (bottle.json).
type Bottle struct {
	Name          string    `json:"name"`
	Backend       string    `json:"backend"`
	Created       time.Time `json:"created"`
	Sidecar       string    `json:"sidecar"`
	Agent         string    `json:"agent"`
	Internal      string    `json:"internal_network"`
	Egress        string    `json:"egress_network"`
	EgressOwned   bool      `json:"egress_owned"`
	SidecarIP     string    `json:"sidecar_ip"`
	SidecarEgress string    `json:"sidecar_egress_ip"`
	ProxyURL      string    `json:"proxy_url"`
	CAFingerprint string    `json:"ca_fingerprint"`
	AgentImage    string    `json:"agent_image"`
	SidecarImage  string    `json:"sidecar_image"`
	AgentUser     string    `json:"agent_user"`
	StateDir      string    `json:"state_dir"`
	Mode          string    `json:"mode"`             // the allowlist's mode at launch
	Stopped       time.Time `json:"stopped,omitzero"` // set by Stop; the bottle's logs stay in its state dir

	// AllowlistSource is the absolute path of the file the bottle's
	// allowlist was launched from (Spec.AllowlistSource, else
	// Spec.Allowlist): where `bottle allow --bottle` also makes an edit, so
	// that the next launch keeps it. Empty for bottles launched before it
	// was recorded.
	AllowlistSource string `json:"allowlist_source,omitempty"`
	// State is how far the launch got (written from its first step on);
	// Step the step it is at, or failed or was interrupted at; Error why
	// it failed, in one line.
	State State  `json:"state"`
	Step  string `json:"step,omitempty"`
	Error string `json:"error,omitempty"`
	// Command is the detached command started at launch (Spec.Command).
	Command []string `json:"command,omitempty"`
	// Supervised says the agent has the command directory and runs
	// commands through bottle-probe supervise (bottles launched before
	// they existed do not).
	Supervised bool `json:"supervised,omitempty"`
	// Approvals is what `bottle launch --approvals` said ("ask" or
	// "off"), which overrides the allowlist's `approvals:` for the
	// bottle's lifetime; empty: the live allowlist decides.
	Approvals string `json:"approvals,omitempty"`
	// MCPURL is the agent's MCP_SUPERVISE_URL: the supervise MCP server
	// of its sidecar.
	MCPURL string `json:"mcp_url,omitempty"`
	// Recipe is the name of the agent recipe the bottle was launched with
	// (Spec.Agent); AgentArgv what `bottle shell` runs in it, the agent
	// interactive and unattended (Recipe.Argv(nil)).
	Recipe    string   `json:"recipe,omitempty"`
	AgentArgv []string `json:"agent_argv,omitempty"`

	// What was copied into /workspace at launch (see Baseline).
	Workspace       string `json:"workspace,omitempty"`        // the host directory; "" for none
	WorkspaceRepo   string `json:"workspace_repo,omitempty"`   // the same, when it is a git repository's top level
	WorkspaceCommit string `json:"workspace_commit,omitempty"` // that repository's HEAD at launch
	WorkspaceTree   string `json:"workspace_tree,omitempty"`   // the baseline's tree in workspace/baseline.git; "" for none recorded

	// Steps is how long each step of the launch took, in order, as far
	// as it got (the step it failed at included): what `bottle launch -v`
	// prints after each step, and what the bench reads.
	Steps []StepTime `json:"steps,omitempty"`
}

// StepTime is how long one step of a launch took.
type StepTime struct {
	Step string  `json:"step"` // the step's name, as in Bottle.Step
	MS   float64 `json:"ms"`   // wall time, milliseconds (to a tenth)
}

// Duration is the step's time as a time.Duration.
func (s StepTime) Duration() time.Duration { return time.Duration(s.MS * float64(time.Millisecond)) }

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,39}$`)

// ValidName checks a bottle name: it becomes part of container and network
// names on every backend (Apple's rules are the strictest: lower case).
func ValidName(n string) error {
	if !nameRE.MatchString(n) {
		return fmt.Errorf("bottle name %q: use 1-40 lower-case letters, digits, '-', '_' or '.', starting with a letter or digit", n)
	}
	return nil
}

// Dir is the state directory of bottle name. The name must be valid
// (ValidName): callers check it before the path is used.
func (l *Launcher) Dir(name string) string { return filepath.Join(l.StateDir, name) }

// agentFilesDir holds the files bind-mounted into the agent, and nothing
// else: Apple's container shares a single-file mount's whole directory into
// the VM, so no such directory may also hold the CA key.
func (l *Launcher) agentFilesDir(name string) string {
	return filepath.Join(l.Dir(name), contract.AgentFilesDir)
}

// ConfigDir holds what the sidecar reads: allowlist.yaml, ca.crt, ca.key.
func (l *Launcher) ConfigDir(name string) string {
	return filepath.Join(l.Dir(name), contract.ConfigDir)
}

// LogDir holds the egress audit and the logs dumped at stop.
func (l *Launcher) LogDir(name string) string { return filepath.Join(l.Dir(name), contract.LogDir) }

// SpoolDir is the git gate's spool: where the sidecar writes a push while
// it inspects it (mounted read-write in the sidecar only, at
// contract.SidecarSpoolDir). It holds what the agent tried to push, so it
// is private, and emptied when the bottle is launched and torn down.
func (l *Launcher) SpoolDir(name string) string {
	return filepath.Join(l.Dir(name), contract.SpoolDir)
}

// ApprovalsDir is the approvals channel (package approval): where the
// sidecar writes the requests it holds while a human is asked, and the
// host writes the decisions (bottle approve, bottle deny, bottle watch).
// It is mounted read-write in the sidecar only, at
// contract.SidecarApprovalsDir, never into the agent, and emptied when
// the bottle is launched and torn down.
func (l *Launcher) ApprovalsDir(name string) string {
	return filepath.Join(l.Dir(name), contract.ApprovalsDir)
}

func (l *Launcher) note(format string, args ...any) {
	if l.Progress != nil {
		fmt.Fprintf(l.Progress, "      %s\n", fmt.Sprintf(format, args...))
	}
}

// labels are the labels of a resource of bottle name.
func (l *Launcher) labels(name, role string) map[string]string {
	m := l.ownLabels(name)
	m[LabelRole] = role
	return m
}

// ownLabels select every resource of bottle name, of this state directory.
func (l *Launcher) ownLabels(name string) map[string]string {
	m := l.mine()
	m[LabelName] = name
	return m
}

// mine selects every resource of this state directory's bottles. The owner
// label keeps two users (or two state directories) on one engine apart: one
// never lists, stops or cleans up the other's bottles.
func (l *Launcher) mine() map[string]string {
	return map[string]string{LabelManaged: "true", LabelOwner: Owner(l.StateDir)}
}

// Owner is the owner label of the bottles of state directory dir.
func Owner(dir string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	sum := sha256.Sum256([]byte(dir))
	return hex.EncodeToString(sum[:])[:16]
}

func (l *Launcher) save(b *Bottle) error {
	data, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(b.StateDir, contract.MetadataFile), append(data, '\n'))
}

// Load reads a bottle's metadata. A name that is not valid is refused
// before any path is made of it.
func (l *Launcher) Load(name string) (*Bottle, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(l.Dir(name), contract.MetadataFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, &NoBottleError{Name: name}
		}
		return nil, err
	}
	var b Bottle
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(l.Dir(name), contract.MetadataFile), err)
	}
	if b.Name != name {
		return nil, fmt.Errorf("%s names bottle %q, not %q", filepath.Join(l.Dir(name), contract.MetadataFile), b.Name, name)
	}
	// It is where it was read from, whatever it says (a state directory
	// moved, or copied from another machine).
	b.StateDir = l.Dir(name)
	b.normalize()
	return &b, nil
}

// teardownTimeout bounds a teardown: long enough for the engine to save
// the logs of a bottle's containers and remove them and its networks,
// short enough that an engine that hangs does not hang bottle with it.
const teardownTimeout = time.Minute

// detached is ctx without its cancellation and with teardownTimeout of its
// own: the Ctrl-C that stops a launch or a stop must not stop the cleanup
// half way, and leave a bottle half torn down.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), teardownTimeout)
}

// Stop saves the logs of a bottle's containers into its state dir and
// removes its containers and networks: only those that carry its labels.
// It reports whether there was anything to stop. A bottle that is already
// stopped is left as it is, saved logs included; a name with neither
// metadata nor resources is ErrNoBottle; a bottle being launched is left
// to its launch. Stop runs to the end under its own timeout even when ctx
// is cancelled.
func (l *Launcher) Stop(ctx context.Context, name string) (bool, error) {
	ctx, cancel := detached(ctx)
	defer cancel()
	b, err := l.Load(name)
	if err != nil && !errors.Is(err, ErrNoBottle) {
		return false, err
	}
	if b != nil && b.State == StateLaunching && l.Busy(name) {
		return false, fmt.Errorf("bottle %s is being launched (at step %s); Ctrl-C that launch to stop it, or stop it once it is up", name, b.Step)
	}
	res, err := l.teardown(ctx, name, true)
	if err != nil {
		// The metadata stays as it is: the bottle is not stopped.
		return res.total() > 0, err
	}
	if res.total() == 0 && b == nil {
		return false, &NoBottleError{Name: name}
	}
	if b != nil && (res.total() > 0 || b.Stopped.IsZero()) {
		b.stopped()
		if err := l.save(b); err != nil {
			return res.total() > 0, err
		}
	}
	return res.total() > 0, nil
}

// stopped records a stop: a ready bottle is stopped; a launch that died is
// interrupted at its step; a failed one keeps what it says.
func (b *Bottle) stopped() {
	switch b.State {
	case StateReady:
		b.State = StateStopped
	case StateLaunching:
		b.State = StateInterrupted
	}
	b.Stopped = time.Now().UTC()
}

// removed counts what a teardown removed.
type removed struct{ containers, networks int }

func (r removed) total() int { return r.containers + r.networks }

// teardown removes the containers and networks that carry bottle name's
// labels, and nothing else: a container that merely has the name bottle
// would give it is not touched. With dumpLogs, the agent's and the
// sidecar's logs are saved first. It returns how many resources of each
// kind it found; when they cannot be listed, nothing is removed.
func (l *Launcher) teardown(ctx context.Context, name string, dumpLogs bool) (removed, error) {
	var n removed
	res, err := l.Backend.List(ctx, l.ownLabels(name))
	if err != nil {
		return n, fmt.Errorf("listing bottle %s's resources (nothing was removed): %w", name, err)
	}
	var errs []error
	for _, r := range res {
		if r.Kind != "container" {
			continue
		}
		if role := r.Labels[LabelRole]; dumpLogs && (role == "agent" || role == "sidecar") {
			if err := os.MkdirAll(l.LogDir(name), 0o700); err == nil {
				if f, err := os.Create(filepath.Join(l.LogDir(name), contract.SavedLogFile(role))); err == nil {
					l.Backend.Logs(ctx, r.Name, false, f) // a container that never started has no logs
					f.Close()
				}
			}
		}
		n.containers++
		if err := l.Backend.Remove(ctx, r.Name); err != nil {
			errs = append(errs, err)
		}
	}
	for _, r := range res {
		if r.Kind == "network" {
			n.networks++
			if err := l.Backend.NetworkRemove(ctx, r.Name); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) == 0 {
		// No sidecar is left to read the values, nor to finish a push it
		// had spooled.
		l.removeCredentials(name)
		os.RemoveAll(l.SpoolDir(name))
		// Nobody is left to act on a decision: a request still pending
		// was answered (the agent's connection is gone).
		os.RemoveAll(l.ApprovalsDir(name))
	}
	return n, errors.Join(errs...)
}
