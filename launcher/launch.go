package launcher

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/approval"
	"bottle.dev/bottle/ca"
	"bottle.dev/bottle/internal/atomicfile"
	"bottle.dev/bottle/internal/contract"
	"bottle.dev/bottle/internal/shquote"
	"bottle.dev/bottle/internal/termsafe"
	"bottle.dev/bottle/secret"
)

// Paths inside the agent.
const (
	agentCABundle = "/etc/ssl/certs/ca-certificates.crt"
	agentProbe    = contract.AgentProbe
	workspaceDir  = "/workspace"
)

// launch is one run of the launch sequence: what the user asked for, and
// what the steps have found and made so far. Each step reads what the
// steps before it left here and adds its own.
type launch struct {
	l    *Launcher
	spec Spec
	b    *Bottle // the metadata, filled in as the steps go (and saved at each)
	// id is this launch's LabelLaunch: the backends tell a network this
	// launch created from any other of the same name by it.
	id string
	// made says the engine holds something this launch made, so a failure
	// from here on tears the bottle down. It is set once the first network
	// exists: before that, whatever holds a bottle's name is not ours.
	made bool
	lock *launchLock // held from the first step to the end

	// What the checks before the first step found.
	pol         *allowlist.Policy // the policy the bottle starts with
	policy      []byte            // and its file (the user's, with the agent recipe's rules merged in)
	policyNotes []string          // what the merge added and left out, for the state step
	upstreamCA  []byte            // --upstream-ca's file
	agent       agentBuild        // how the agent image is had
	sidecarBin  string            // the static bottle-sidecar (or, when "", built in step "images" …)
	sidecarRoot string            // … from this checkout
	// creds are the policy's credentials, resolved, with the placeholders
	// the agent gets: what config/credentials.json will hold.
	creds *secret.File

	// What one step finds for the later ones.
	internal NetworkInfo // the internal network as read back (step "networks")
	egress   NetworkInfo // the egress network as read back (step "networks")

	// The addresses chosen up front, on an Addresser (addresses.go).
	subnets     chan []netip.Prefix // lookupSubnets' answer, until planAddresses reads it
	addressable bool                // the answer came
	usedSubnets []netip.Prefix      // and said these are taken
	plan        addressPlan         // what step "networks" made the internal network with
	// agentRun is the agent's start, under way from step "sidecar" on
	// when the sidecar's address was known up front; step "agent" (or a
	// teardown) waits for it.
	agentRun chan error
	// proberRun is the self-test's probe container's start, begun once
	// that agent runs (nil: step "self-test" starts it).
	proberRun chan error
	// bg is what goes on in the background (the self-test's probe
	// container being removed): waited for before a teardown, and before
	// Launch returns.
	bg sync.WaitGroup
}

// step is one named step of the launch sequence. run does it and returns
// what the progress line says once it is done.
type step struct {
	name string
	run  func(ctx context.Context, st *launch) (done, error)
}

// done is what a step prints when it is done: its line, numbered from the
// table, and notes under it.
type done struct {
	line  string
	notes []string
}

func doneWith(format string, args ...any) done { return done{line: fmt.Sprintf(format, args...)} }

// launchSteps is the launch sequence, in order. A new step goes here, and
// the progress lines number themselves.
func launchSteps() []step {
	return []step{
		{"backend", checkBackend},
		{"state", makeState},
		{"images", buildImages},
		{"networks", createNetworks},
		{"sidecar", startSidecar},
		{"agent", startAgent},
		// The self-test comes before provisioning, and not after: the
		// provisioning runs the agent image's own programs as root
		// (update-ca-certificates, its sh), and a hostile image could then
		// replace the probe with one that lies. Until the verdict nothing
		// from the image has run.
		{"self-test", selfTest},
		{"provision", provision},
		{"ready", ready},
	}
}

// Launch checks what can be checked before anything is made (Spec, the
// engine, the images' inputs, bottle-sidecar), then runs the launch
// sequence, recording in the bottle's metadata from its first step on how
// far it got. Any failure tears down what this call made and returns a
// *StepError (the metadata says failed, or refused when the self-test
// refused the bottle); a bottle that leaks never reaches the user. When ctx
// is cancelled (Ctrl-C), the launch is torn down and an *InterruptedError
// says what was removed.
func (l *Launcher) Launch(ctx context.Context, s Spec) (*Bottle, error) {
	// The checks before the first step count as step "backend"'s time:
	// that step is where their verdict is said.
	began := time.Now()
	st, err := l.newLaunch(ctx, s)
	if err != nil {
		if ctx.Err() != nil {
			return nil, &InterruptedError{}
		}
		return nil, err
	}
	defer st.lock.release()
	defer st.bg.Wait()
	steps := launchSteps()
	for i, step := range steps {
		st.b.State, st.b.Step = StateLaunching, step.name
		err := l.save(st.b)
		if err == nil {
			// A Ctrl-C during a step that the engine had no part in (the
			// CA, a file) is seen here, before the next one starts.
			err = ctx.Err()
		}
		var d done
		if err == nil {
			if i > 0 {
				began = time.Now()
			}
			d, err = step.run(ctx, st)
			st.b.Steps = append(st.b.Steps, stepTime(step.name, time.Since(began)))
		}
		if err != nil {
			return st.b, st.fail(ctx, i+1, len(steps), step.name, err)
		}
		if l.Progress != nil {
			took := ""
			if l.Verbose {
				// One line a step, with how long it took (the
				// metadata's Steps has the same, for programs).
				took = fmt.Sprintf(" (%s)", st.b.Steps[len(st.b.Steps)-1].Duration().Round(time.Millisecond))
			}
			fmt.Fprintf(l.Progress, "[%d/%d] %s%s\n", i+1, len(steps), d.line, took)
			for _, n := range d.notes {
				l.note("%s", n)
			}
		}
	}
	// The last step's time, which its own save could not hold.
	if err := l.save(st.b); err != nil {
		l.note("could not record the launch's step times in %s: %v", st.b.StateDir, err)
	}
	return st.b, nil
}

// stepTime is step's time d, to a tenth of a millisecond.
func stepTime(step string, d time.Duration) StepTime {
	return StepTime{Step: step, MS: float64(d.Round(100*time.Microsecond)) / float64(time.Millisecond)}
}

// StepError is a launch that failed at a step, and was torn down. Its
// message is one line per engine command (RunError.Brief) unless Verbose,
// which gives each command whole: argv, and what it said. A self-test
// that refused the bottle is said in its own words (they begin with
// "self-test:").
type StepError struct {
	N, Total int
	Step     string
	Err      error
	Verbose  bool
}

func (e *StepError) Error() string {
	msg := e.Err.Error()
	var refused *SelfTestError
	if errors.As(e.Err, &refused) {
		// The self-test's verdict names its step, and says all it found.
		return msg
	}
	if brief := Brief(e.Err); !e.Verbose && brief != msg {
		msg = brief + " (-v shows the whole command and its output)"
	}
	return fmt.Sprintf("launch failed at step %d/%d (%s): %s", e.N, e.Total, e.Step, msg)
}

func (e *StepError) Unwrap() error { return e.Err }

// InterruptedError is a launch that was interrupted (its context was
// cancelled: Ctrl-C, SIGTERM) and torn down: what it removed.
type InterruptedError struct {
	Step                 string // "" when it had not begun a step
	Containers, Networks int
}

func (e *InterruptedError) Error() string {
	return fmt.Sprintf("interrupted; removed %s and %s", plural(e.Containers, "container"), plural(e.Networks, "network"))
}

// Unwrap makes an interrupted launch context.Canceled to errors.Is.
func (e *InterruptedError) Unwrap() error { return context.Canceled }

func plural(n int, word string) string {
	if n != 1 {
		word += "s"
	}
	return fmt.Sprintf("%d %s", n, word)
}

// fail ends a launch that failed at step n of total: it tears down what
// was made, records the outcome in the metadata, and returns the error to
// report.
func (st *launch) fail(ctx context.Context, n, total int, name string, err error) error {
	l, b := st.l, st.b
	interrupted := ctx.Err() != nil
	var gone removed
	if st.made {
		if interrupted {
			l.note("interrupted at step %d/%d (%s); tearing down what was made", n, total, name)
		} else {
			l.note("launch failed at step %d/%d (%s); tearing down what was made", n, total, name)
		}
		gone = st.undo(ctx)
	}
	// Whether or not the engine holds anything, the values go.
	l.removeCredentials(st.spec.Name)
	b.Step = name
	var out error
	var refused *SelfTestError
	switch {
	case interrupted:
		b.State, b.Error = StateInterrupted, ""
		out = &InterruptedError{Step: name, Containers: gone.containers, Networks: gone.networks}
	case errors.As(err, &refused):
		b.State = StateRefused
	default:
		b.State = StateFailed
	}
	if !interrupted {
		b.Error = oneLine(Brief(err))
		out = &StepError{N: n, Total: total, Step: name, Err: err, Verbose: l.Verbose}
	}
	if serr := l.save(b); serr != nil {
		l.note("could not record the failure in %s: %v", b.StateDir, serr)
	}
	return out
}

// oneLine joins a message's lines, for the metadata's error.
func oneLine(s string) string {
	var parts []string
	for _, line := range strings.Split(s, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			parts = append(parts, line)
		}
	}
	s = strings.Join(parts, "; ")
	if len(s) > 1000 {
		s = s[:1000] + "…"
	}
	return s
}

// newLaunch checks what can be checked before anything is made — the name,
// the environment, the workspace, the allowlist, the images' inputs,
// bottle-sidecar, the engine, that no resource of the bottle exists yet —
// and takes the bottle's lock. A failure here leaves nothing behind, not
// even a state directory.
func (l *Launcher) newLaunch(ctx context.Context, s Spec) (*launch, error) {
	if err := ValidName(s.Name); err != nil {
		return nil, err
	}
	if err := CheckEnv(s.Env); err != nil {
		return nil, fmt.Errorf("-e: %w", err)
	}
	if s.Approvals != "" && s.Approvals != "ask" && s.Approvals != "off" {
		return nil, fmt.Errorf("--approvals %q: want ask or off", s.Approvals)
	}
	if s.Workspace != "" {
		if err := l.checkWorkspace(s.Workspace); err != nil {
			return nil, err
		}
	}
	st := &launch{l: l, spec: s, id: randomToken()}
	var err error
	if st.policy, err = os.ReadFile(s.Allowlist); err != nil {
		return nil, fmt.Errorf("allowlist: %w (pass --allowlist FILE, or create one with 'bottle allow add HOST')", err)
	}
	if st.pol, err = allowlist.Parse(s.Allowlist, st.policy); err != nil {
		return nil, fmt.Errorf("invalid allowlist:\n%w", err)
	}
	if err := st.checkAgent(); err != nil {
		return nil, err
	}
	if err := st.mergeAgentPolicy(); err != nil {
		return nil, err
	}
	if err := checkCredentialEnv(st.pol, s.Env); err != nil {
		return nil, err
	}
	if s.UpstreamCA != "" {
		if st.upstreamCA, err = os.ReadFile(s.UpstreamCA); err != nil {
			return nil, fmt.Errorf("--upstream-ca: %w", err)
		}
	}
	if st.agent, err = planAgent(s); err != nil {
		return nil, err
	}
	if st.sidecarBin, st.sidecarRoot, err = findSidecar(s.SidecarBinary); err != nil {
		return nil, err
	}
	if err := l.Backend.Check(ctx); err != nil {
		return nil, err
	}
	existing, err := l.Backend.List(ctx, l.ownLabels(s.Name))
	if err != nil {
		// Without the list, a later failure could not tell this launch's
		// resources from an earlier bottle's.
		return nil, fmt.Errorf("listing bottle %s's resources: %w", s.Name, err)
	}
	if len(existing) > 0 {
		return nil, fmt.Errorf("bottle %q already exists (%d resources); stop it first: bottle stop %s", s.Name, len(existing), s.Name)
	}
	if st.agent.given {
		ok, err := l.Backend.ImageExists(ctx, s.Image)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("image %s is not on this machine, and bottle never pulls images: build it or pull it yourself, or pass --dockerfile", s.Image)
		}
	}
	// A new launch records a new baseline: the last run's changes must
	// have been pulled, or the user must say they may go.
	if ws, err := l.ReadWorkspaceStatus(s.Name); err != nil {
		return nil, err
	} else if ws.Unpulled() {
		return nil, fmt.Errorf("bottle %q has changes in /workspace from its last run that were not pulled; see them with bottle diff %s, get them with bottle pull %s, or drop them with bottle rm %s, then launch again",
			s.Name, s.Name, s.Name, s.Name)
	}
	// The sources are resolved last, once all else is known to be fine (a
	// command: source may ask the user for something), and before anything
	// is made: a credential that does not resolve leaves nothing behind.
	if st.creds, err = l.resolveCredentials(ctx, st.pol, nil); err != nil {
		return nil, err
	}
	if st.lock, err = l.lock(s.Name); err != nil {
		return nil, err
	}
	st.b = &Bottle{
		Name: s.Name, Backend: l.Backend.Name(), Created: time.Now().UTC(),
		Sidecar: "bottle-" + s.Name + "-sidecar", Agent: "bottle-" + s.Name + "-agent",
		Internal: "bottle-" + s.Name + "-internal", Egress: "bottle-" + s.Name + "-egress", EgressOwned: true,
		StateDir: l.Dir(s.Name), Mode: st.pol.Mode().String(), Supervised: true, Approvals: s.Approvals,
	}
	if s.EgressNetwork != "" {
		st.b.Egress, st.b.EgressOwned = s.EgressNetwork, false
	}
	if s.Agent != nil {
		// What bottle shell runs; a command given at launch is the
		// caller's, with the recipe's argv already applied (Recipe.Argv).
		st.b.Recipe, st.b.AgentArgv = s.Agent.Name, s.Agent.Argv(nil)
	}
	if src := cmp.Or(s.AllowlistSource, s.Allowlist); src != "" {
		st.b.AllowlistSource = src
		if abs, err := filepath.Abs(src); err == nil {
			st.b.AllowlistSource = abs
		}
	}
	return st, nil
}

// undo tears down what the launch made, under a context of its own (the
// Ctrl-C that stopped the launch must not stop its cleanup), saving the
// agent's and the sidecar's logs first: they say why it failed.
func (st *launch) undo(ctx context.Context) removed {
	// An agent being started beside the sidecar is waited for: it must
	// not appear after the teardown.
	st.waitAgent()
	st.bg.Wait()
	ctx, cancel := detached(ctx)
	defer cancel()
	gone, err := st.l.teardown(ctx, st.spec.Name, true)
	if err != nil {
		st.l.note("could not tear down everything (bottle cleanup removes what is left): %v", err)
	}
	return gone
}

// labels are the labels of this launch's resource of role.
func (st *launch) labels(role string) map[string]string { return st.l.labels(st.spec.Name, role) }

// checkBackend: the engine answered the checks before the first step.
// On an Addresser, the subnets its networks use are asked for now, and
// read when the networks are made.
func checkBackend(ctx context.Context, st *launch) (done, error) {
	st.lookupSubnets(ctx)
	return doneWith("backend: %s", st.l.Backend.Name()), nil
}

// makeState makes the state dir, and in it the CA, the live allowlist,
// an empty spool for the git gate and an empty approvals channel.
func makeState(_ context.Context, st *launch) (done, error) {
	l, s, b := st.l, st.spec, st.b
	cfg := l.ConfigDir(s.Name)
	// What a sidecar that died left in the spool is an old push: it goes.
	if err := os.RemoveAll(l.SpoolDir(s.Name)); err != nil {
		return done{}, fmt.Errorf("emptying the git gate's spool: %w", err)
	}
	// And what it left in the approvals channel asked for connections
	// that are gone; a decision left there must not answer a new request.
	if err := os.RemoveAll(l.ApprovalsDir(s.Name)); err != nil {
		return done{}, fmt.Errorf("emptying the approvals channel: %w", err)
	}
	approvals := l.ApprovalsDir(s.Name)
	for _, d := range []string{l.LogDir(s.Name), cfg, l.agentFilesDir(s.Name), l.SpoolDir(s.Name),
		approvals, filepath.Join(approvals, approval.PendingDir), filepath.Join(approvals, approval.DecidedDir)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return done{}, err
		}
	}
	// The bottle keeps its CA across launches (agents may have pinned it);
	// one that exists but does not load is an error to fix, never replaced.
	authority, err := ca.Load(cfg)
	if errors.Is(err, os.ErrNotExist) {
		if authority, err = ca.New(s.Name, 0); err == nil {
			err = authority.Save(cfg)
		}
	}
	if err != nil {
		return done{}, fmt.Errorf("the bottle's CA in %s: %w", cfg, err)
	}
	b.CAFingerprint = authority.Fingerprint()
	if err := atomicfile.Write(filepath.Join(cfg, contract.AllowlistFile), st.policy); err != nil {
		return done{}, err
	}
	if st.upstreamCA != nil {
		if err := atomicfile.Write(filepath.Join(cfg, contract.UpstreamCAFile), st.upstreamCA); err != nil {
			return done{}, err
		}
	}
	// Always written, with no credentials too: an earlier launch's values
	// never outlive an allowlist that dropped them.
	if err := l.writeCredentials(s.Name, st.creds); err != nil {
		return done{}, err
	}
	pol := st.pol
	d := doneWith("state: %s (CA sha256 %s…)", b.StateDir, b.CAFingerprint[:23])
	with := ""
	if s.Agent != nil && s.Agent.Policy != nil {
		with = " with agent " + termsafe.Line(s.Agent.Name) + "'s"
	}
	d.notes = append(d.notes, fmt.Sprintf("policy %s%s: %d allow and %d deny rules, mode %s", termsafe.Line(s.Allowlist), with, len(pol.Allow()), len(pol.DenyRules()), pol.Mode()))
	d.notes = append(d.notes, st.policyNotes...)
	if len(pol.Credentials()) > 0 {
		d.notes = append(d.notes, credentialNote(pol))
	}
	if pol.Mode() == allowlist.Report {
		d.notes = append(d.notes, "mode: report — nothing is blocked; what enforce would deny is let through and logged as would-deny")
	}
	return d, nil
}

// buildImages builds bottle-sidecar when it comes from the checkout, and
// the images that are not there yet: they are tagged by content, so an
// unchanged input is not rebuilt (the agent's is, with Spec.Rebuild).
func buildImages(ctx context.Context, st *launch) (done, error) {
	l, b := st.l, st.b
	var err error
	if st.sidecarBin == "" {
		if st.sidecarBin, err = l.buildSidecar(ctx, st.sidecarRoot); err != nil {
			return done{}, err
		}
	}
	if b.SidecarImage, err = l.sidecarImage(ctx, st.sidecarBin); err != nil {
		return done{}, err
	}
	if err = l.agentTag(ctx, &st.agent); err != nil {
		return done{}, err
	}
	if err = l.agentImage(ctx, st.agent, st.spec.Rebuild); err != nil {
		return done{}, err
	}
	b.AgentImage = st.agent.tag
	var notes []string
	if a := st.spec.Agent; hasInstall(a) {
		// The recipe's install step is a layer over the image the launch
		// would otherwise use, whichever way it was had.
		tag, note, err := l.agentLayer(ctx, b.AgentImage, a, st.upstreamCA, st.spec.Rebuild)
		if err != nil {
			return done{}, err
		}
		b.AgentImage = tag
		notes = append(notes, note)
	}
	d := doneWith("images: sidecar %s, agent %s", b.SidecarImage, termsafe.Line(b.AgentImage))
	d.notes = notes
	return d, nil
}

// createNetworks makes the internal network (no route out, no host
// address) and the egress one, and reads them back. A network this launch
// did not create is never used as the internal one.
func createNetworks(ctx context.Context, st *launch) (done, error) {
	l, s, b := st.l, st.spec, st.b
	labels := func(role string) map[string]string {
		m := st.labels(role)
		m[LabelLaunch] = st.id
		return m
	}
	if err := st.createInternal(ctx, labels("internal")); err != nil {
		return done{}, err
	}
	st.made = true
	// The egress network after: until the internal one is the launch's,
	// nothing of the bottle's name is ours to remove on a failure. (One
	// call after another: each is a few tens of milliseconds, and the
	// engine's log of them stays in one order.)
	if b.EgressOwned {
		if err := l.Backend.NetworkCreate(ctx, NetworkSpec{Name: b.Egress, Labels: labels("egress")}); err != nil {
			return done{}, err
		}
	}
	internal, err := l.Backend.NetworkInspect(ctx, b.Internal)
	if err != nil {
		return done{}, err
	}
	egress, err := l.Backend.NetworkInspect(ctx, b.Egress)
	if err != nil {
		return done{}, fmt.Errorf("egress network %s: %w", b.Egress, err)
	}
	if !internal.Internal || !internal.Isolated || internal.Labels[LabelName] != s.Name || internal.Labels[LabelManaged] != "true" {
		return done{}, fmt.Errorf("network %s is not the isolated internal network bottle asked for (internal %v, isolated %v, labels %v); refusing to put the agent on it",
			b.Internal, internal.Internal, internal.Isolated, internal.Labels)
	}
	if st.plan.ok() && internal.Subnet != st.plan.subnet.String() {
		// Not the subnet asked for: the engine chose, so the sidecar's
		// address is read back after all.
		st.plan = addressPlan{}
	}
	if st.plan.ok() && internal.Gateway == "" {
		// Docker does not say the gateway of a subnet it was given (and
		// puts no address on an isolated bridge), but reserves the first
		// address for it, as it would have said: the self-test proves
		// that one unreachable too.
		internal.Gateway = st.plan.gateway().String()
	}
	st.internal, st.egress = internal, egress
	return doneWith("networks: %s %s (internal), %s %s (egress)", b.Internal, internal.Subnet, b.Egress, egress.Subnet), nil
}

// createInternal creates the internal network: on the subnet
// planAddresses chooses, trying the next when another launch took one
// first (three times, then the engine's choice), or on the engine's.
func (st *launch) createInternal(ctx context.Context, labels map[string]string) error {
	var tried []netip.Prefix
	for {
		st.plan = addressPlan{}
		if len(tried) < 3 {
			st.plan = st.planAddresses(tried)
		}
		n := NetworkSpec{Name: st.b.Internal, Internal: true, Labels: labels}
		if st.plan.ok() {
			n.Subnet = st.plan.subnet.String()
		}
		err := st.l.Backend.NetworkCreate(ctx, n)
		if err == nil || !st.plan.ok() || !errors.Is(err, ErrSubnetTaken) {
			return err // nothing made yet: a network of that name that exists is not ours to remove
		}
		tried = append(tried, st.plan.subnet)
	}
}

// SidecarLimits bound the sidecar: enough for thousands of connections, and
// a sidecar that leaks cannot take the host down with it.
var SidecarLimits = Limits{Memory: "512m", Pids: 256}

// sidecarSysctls turn off packet forwarding in the sidecar's network
// namespace: a second barrier, under the proxy's own peer check, against
// anything on one of its networks using it as a router to the other.
var sidecarSysctls = map[string]string{"net.ipv4.ip_forward": "0", "net.ipv6.conf.all.forwarding": "0"}

// startSidecar starts the sidecar on egress first (the first network
// carries the default route), then internal, and reads its addresses.
func startSidecar(ctx context.Context, st *launch) (done, error) {
	l, s, b := st.l, st.spec, st.b
	if err := l.chownForSidecar(s.Name); err != nil {
		return done{}, err
	}
	run := contract.DefaultRunOptions()
	run.InternalCIDR, run.UpstreamDNS, run.Bottle = st.internal.Subnet, s.UpstreamDNS, s.Name
	run.AuditLog = path.Join(contract.SidecarStateDir, contract.AuditFile)
	run.StatusFile = path.Join(contract.SidecarStateDir, contract.StatusFile)
	// The git gate spools pushes on disk, in the bottle's state, not in
	// the sidecar's memory (bounded by SidecarLimits) nor in its image.
	run.GitSpool = contract.SidecarSpoolDir
	// The approvals channel: the sidecar's and the host's, never the
	// agent's (it must not decide its own requests).
	run.ApprovalDir, run.Approvals = contract.SidecarApprovalsDir, s.Approvals
	var ips map[string]string
	if st.plan.ok() {
		// The sidecar's address is known before it exists: the agent
		// starts now, beside it (step "agent" waits for it).
		ips = map[string]string{b.Internal: st.plan.sidecar.String()}
		st.setSidecarIP(st.plan.sidecar.String())
		// Then, once the agent runs, the self-test's probe container, in
		// its namespace: step "self-test" finds it started.
		st.agentRun, st.proberRun = make(chan error, 1), make(chan error, 1)
		st.bg.Add(1)
		go func() {
			defer st.bg.Done()
			err := st.runAgent(ctx)
			st.agentRun <- err
			if err != nil {
				st.proberRun <- err
				return
			}
			st.proberRun <- st.l.runProber(ctx, st.b)
		}()
	}
	err := l.Backend.Run(ctx, RunSpec{
		Name: b.Sidecar, Image: b.SidecarImage, Networks: []string{b.Egress, b.Internal}, IPs: ips,
		Labels: st.labels("sidecar"), User: sidecarUser(), Limits: SidecarLimits, Sysctls: sidecarSysctls,
		Mounts: []Mount{{Source: l.ConfigDir(s.Name), Target: contract.SidecarConfigDir, ReadOnly: true},
			{Source: l.LogDir(s.Name), Target: contract.SidecarStateDir},
			{Source: l.SpoolDir(s.Name), Target: contract.SidecarSpoolDir},
			{Source: l.ApprovalsDir(s.Name), Target: contract.SidecarApprovalsDir}},
		Cmd: run.Args(),
	})
	if err != nil {
		return done{}, err
	}
	sc, err := l.Backend.Inspect(ctx, b.Sidecar)
	if err != nil {
		return done{}, err
	}
	b.SidecarEgress = sc.Networks[b.Egress]
	switch got := sc.Networks[b.Internal]; {
	case got == "":
		return done{}, fmt.Errorf("the sidecar has no address on %s", b.Internal)
	case ips != nil && got != b.SidecarIP:
		// The agent was given the address asked for; it must be the
		// sidecar's.
		return done{}, fmt.Errorf("the sidecar is at %s on %s, not at %s as asked", got, b.Internal, b.SidecarIP)
	case ips == nil:
		st.setSidecarIP(got)
	}
	return doneWith("sidecar %s: internal %s, egress %s", b.Sidecar, b.SidecarIP, b.SidecarEgress), nil
}

// nobody runs the agent's main process.
const nobody = "65534:65534"

// agentSysctls turn IPv6 off in the agent's network namespace (Docker): the
// internal network has no IPv6, and a link-local address would still reach
// the host's own link-local addresses on the bridge (engines from 26 keep
// one on every interface, moby#47062).
var agentSysctls = map[string]string{"net.ipv6.conf.all.disable_ipv6": "1", "net.ipv6.conf.default.disable_ipv6": "1"}

// setSidecarIP records the sidecar's internal address, and the agent's
// URLs that go by it.
func (st *launch) setSidecarIP(ip string) {
	b := st.b
	b.SidecarIP = ip
	b.ProxyURL = fmt.Sprintf("http://%s:%d", b.SidecarIP, contract.ProxyPort)
	b.MCPURL = fmt.Sprintf("http://%s:%d%s", b.SidecarIP, contract.MCPPort, contract.MCPPath)
}

// startAgent starts the agent (runAgent), or waits for the start step
// "sidecar" began.
func startAgent(ctx context.Context, st *launch) (done, error) {
	if err := st.waitAgent(); err != nil {
		return done{}, err
	}
	if st.agentRun == nil {
		if err := st.runAgent(ctx); err != nil {
			return done{}, err
		}
	}
	return doneWith("agent %s on %s only (NET_ADMIN and NET_RAW dropped)", st.b.Agent, st.b.Internal), nil
}

// waitAgent waits for the agent's start if one is under way (nil when
// none is), and returns how it ended; after, agentRun says it is over.
func (st *launch) waitAgent() error {
	if st.agentRun == nil {
		return nil
	}
	err, ok := <-st.agentRun
	if ok {
		close(st.agentRun)
	}
	return err
}

// runAgent starts the agent, on the internal network only. Nothing from
// its image runs before the self-test has judged the network: its main
// process is bottle's own static binary (mounted read-only, as
// bottle-probe), idling unprivileged, and no image healthcheck runs.
func (st *launch) runAgent(ctx context.Context) error {
	l, s, b := st.l, st.spec, st.b
	files := l.agentFilesDir(s.Name)
	resolv := filepath.Join(files, "resolv.conf")
	// Docker's embedded resolver does not forward from an internal network
	// on every engine, so the agent asks the sidecar directly.
	if err := os.WriteFile(resolv, []byte("nameserver "+b.SidecarIP+"\noptions ndots:0\n"), 0o644); err != nil {
		return err
	}
	probeCopy := filepath.Join(files, "bottle-probe")
	if err := copyFile(st.sidecarBin, probeCopy, 0o755); err != nil {
		return err
	}
	if err := l.makeCommandDir(s.Name); err != nil {
		return err
	}
	// The credentials' placeholders, never their values (those are in the
	// sidecar's config alone).
	// Then the recipe's variables, then the user's -e, which win.
	env := append(proxyEnv(b.ProxyURL, b.SidecarIP, b.MCPURL), credentialEnv(st.pol, st.creds)...)
	if s.Agent != nil {
		env = append(env, s.Agent.Env...)
	}
	env = lastWins(append(env, s.Env...))
	err := l.Backend.Run(ctx, RunSpec{
		Name: b.Agent, Image: b.AgentImage, Networks: []string{b.Internal}, DNS: []string{b.SidecarIP},
		CapDrop: []string{"NET_ADMIN", "NET_RAW"}, Env: env, Labels: st.labels("agent"), Limits: s.Limits,
		Mounts: []Mount{{Source: resolv, Target: "/etc/resolv.conf", ReadOnly: true},
			{Source: probeCopy, Target: agentProbe, ReadOnly: true},
			// The one directory of the state the agent may write: its
			// commands' output, status and pid files (see contract).
			{Source: l.CommandDir(s.Name), Target: contract.AgentCommandDir}},
		Entrypoint: []string{agentProbe, "idle"}, Workdir: "/", User: nobody, Sysctls: agentSysctls,
	})
	return err
}

// selfTest proves, fail closed, from a container of bottle's own image in
// the agent's network, that nothing gets around the sidecar.
func selfTest(ctx context.Context, st *launch) (done, error) {
	proved, err := st.l.selfTest(ctx, st.b, st.internal, st.egress, st.pol, st.proberRun, &st.bg)
	if err != nil {
		for _, p := range proved {
			st.l.note("%s", p)
		}
		return done{}, err
	}
	d := doneWith("self-test passed: the proxy and DNS answer and enforce; no way around the sidecar")
	d.notes = proved
	return d, nil
}

// provision puts the bottle CA into the agent's trust store and the
// workspace into /workspace, and learns the agent's user; then, as that
// user, the agent recipe's files, the prompt and the skills.
func provision(ctx context.Context, st *launch) (done, error) {
	// What is copied in is recorded first, on the host: the agent cannot
	// be trusted to keep it.
	note := st.l.recordBaseline(ctx, st.b, st.spec.Workspace)
	gitNotes, err := st.l.provision(ctx, st.b, st.spec, st.pol)
	if err != nil {
		return done{}, err
	}
	d := doneWith("provisioned: bottle CA trusted, workspace in %s as user %s", workspaceDir, st.b.AgentUser)
	if st.b.AgentUser == "root" {
		// Not an error: the image is the user's, and so is who runs in it.
		d.notes = []string{`the image has no user "agent", so the agent's commands run as root in its container (to run them unprivileged, add the user to the image: RUN useradd --create-home agent)`}
	}
	if note != "" {
		d.notes = append(d.notes, note)
	}
	d.notes = append(d.notes, gitNotes...)
	agentNotes, err := st.provisionAgent(ctx)
	if err != nil {
		return done{}, err
	}
	d.notes = append(d.notes, agentNotes...)
	return d, nil
}

// ready starts the detached command, if there is one, and records the
// bottle as ready.
func ready(ctx context.Context, st *launch) (done, error) {
	l, b := st.l, st.b
	d := doneWith("ready")
	if len(st.spec.Command) > 0 {
		if err := l.startCommand(ctx, b, st.spec.Command); err != nil {
			return done{}, err
		}
		b.Command = st.spec.Command
		d = doneWith("ready; running in the background: %s (its output: bottle logs %s -f)", termsafe.Line(shquote.Join(b.Command)), b.Name)
	}
	b.State, b.Step = StateReady, ""
	if err := l.save(b); err != nil {
		return done{}, err
	}
	return d, nil
}

// gitName and gitEmail are the identity the agent's commits carry when its
// image sets none: they say which bottle made them (a pulled branch keeps
// them), and the address is in a domain that cannot exist.
func gitName(bottle string) string  { return "bottle agent (" + bottle + ")" }
func gitEmail(bottle string) string { return "agent@" + bottle + ".bottle.invalid" }

// copyFile copies src to dst (replacing it) with mode.
func copyFile(src, dst string, mode os.FileMode) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	os.Remove(dst) // a running bottle's copy may be busy; a new inode is fine
	return os.WriteFile(dst, data, mode)
}

// checkWorkspace refuses a workspace that is, holds, or lies inside bottle's
// state directory: that would copy the CA keys of every bottle into an agent.
func (l *Launcher) checkWorkspace(ws string) error {
	abs, err := filepath.Abs(ws)
	if err != nil {
		return err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return fmt.Errorf("workspace %s: %w", ws, err)
	}
	if st, err := os.Stat(real); err != nil || !st.IsDir() {
		return fmt.Errorf("workspace %s is not a directory", ws)
	}
	state, err := filepath.Abs(l.StateDir)
	if err != nil {
		return err
	}
	if r, err := filepath.EvalSymlinks(state); err == nil {
		state = r
	}
	if within(real, state) || within(state, real) {
		return fmt.Errorf("workspace %s holds or is inside bottle's state directory %s, which has the CA keys of every bottle; choose a narrower workspace", ws, state)
	}
	return nil
}

// within reports whether path is dir or below it.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// lastWins keeps, of the entries of env that set one variable, the last,
// where it is: what the engines do with an env file that sets one twice,
// said here so that no backend has to (the user's -e over the recipe's).
func lastWins(env []string) []string {
	last := map[string]int{}
	for i, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		last[k] = i
	}
	var out []string
	for i, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); last[k] == i {
			out = append(out, kv)
		}
	}
	return out
}

// proxyEnv points every common tool at the proxy and the CA bundle that
// includes the bottle CA, and gives the agent its sidecar's supervise MCP
// server (MCP_SUPERVISE_URL), which is reached directly: the sidecar's
// address is in NO_PROXY.
func proxyEnv(proxyURL, sidecarIP, mcpURL string) []string {
	noProxy := "localhost,127.0.0.1,::1," + sidecarIP
	env := []string{
		"HTTP_PROXY=" + proxyURL, "HTTPS_PROXY=" + proxyURL, "http_proxy=" + proxyURL, "https_proxy=" + proxyURL,
		"NO_PROXY=" + noProxy, "no_proxy=" + noProxy, "MCP_SUPERVISE_URL=" + mcpURL,
		// Node's own fetch and http use the proxy variables only when
		// asked (Node 24, and 22.21 on); older ones ignore it.
		"NODE_USE_ENV_PROXY=1",
	}
	for _, v := range []string{"SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO",
		"PIP_CERT", "AWS_CA_BUNDLE", "CARGO_HTTP_CAINFO", "DENO_CERT"} {
		env = append(env, v+"="+agentCABundle)
	}
	return env
}

// sidecarUser is who the sidecar runs as: the unprivileged image user when
// bottle runs as root (the config is handed to that uid), else the invoking
// user, who owns the 0600 CA key.
func sidecarUser() string {
	if os.Geteuid() == 0 {
		return "65532:65532"
	}
	return fmt.Sprintf("%d:%d", os.Geteuid(), os.Getegid())
}

// sidecarOwner is the owner chownForSidecar gives the sidecar's files,
// when it gives them one (bottle runs as root).
func sidecarOwner() (uid, gid int, ok bool) {
	if os.Geteuid() != 0 {
		return 0, 0, false
	}
	return 65532, 65532, true
}

func (l *Launcher) chownForSidecar(name string) error {
	uid, gid, ok := sidecarOwner()
	if !ok {
		return nil
	}
	for _, dir := range []string{l.ConfigDir(name), l.LogDir(name), l.SpoolDir(name), l.ApprovalsDir(name)} {
		err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, uid, gid)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// agentCAFile is where provisioning copies the bottle CA into the agent:
// where update-ca-certificates finds it, so that the image's own run of
// it later (an apt-get install, say) keeps it in the bundle.
const agentCAFile = "/usr/local/share/ca-certificates/bottle-ca.crt"

// caScript puts the bottle CA (at agentCAFile) into the agent's trust
// store, and fails unless the bundle then holds it.
//
// Without a full update-ca-certificates run where a bundle file will do:
// that run reads every certificate of the image and rehashes the whole
// directory (seconds on a loaded machine), and all a client needs is the
// bundle, which every CA variable the agent has points at (proxyEnv), and
// which is also OpenSSL's default file (Debian links cert.pem to it). So
// the CA is appended to the bundle, and linked into /etc/ssl/certs as
// update-ca-certificates would (by name, and by subject hash when the
// image has openssl, for clients that look a CA up in the directory).
// A newline goes first: glued to a bundle whose last line has none, the
// CA's first line and the last certificate's would both be lost.
// Only an image with update hooks (/etc/ca-certificates/update.d: Java's
// keystore, say) gets the full run, for the hooks' sake.
const caScript = `if command -v update-ca-certificates >/dev/null 2>&1 && [ -n "$(ls -A /etc/ca-certificates/update.d 2>/dev/null)" ]; then
update-ca-certificates >/dev/null 2>&1
else { echo; cat ` + agentCAFile + `; } >> ` + agentCABundle + `
ln -sf ` + agentCAFile + ` /etc/ssl/certs/bottle-ca.pem
if command -v openssl >/dev/null 2>&1; then h=$(openssl x509 -subject_hash -noout -in ` + agentCAFile + `); i=0
while [ -e "/etc/ssl/certs/$h.$i" ]; do i=$((i+1)); done; ln -s bottle-ca.pem "/etc/ssl/certs/$h.$i"; fi; fi
grep -q "$(sed -n 2p ` + agentCAFile + `)" ` + agentCABundle + `
`

// provision copies the bottle CA and the workspace into the agent, then
// runs one script there as root: the CA in the trust store, the git
// identity and remote rewrites (gitScript), the workspace to the agent
// user. It returns the git part's notes.
func (l *Launcher) provision(ctx context.Context, b *Bottle, s Spec, pol *allowlist.Policy) ([]string, error) {
	// The copies go in parallel, then one command sets everything up.
	copies := []struct{ src, dst string }{
		{filepath.Join(l.ConfigDir(b.Name), ca.CertFile), agentCAFile},
	}
	if s.Workspace != "" {
		copies = append(copies, struct{ src, dst string }{filepath.Clean(s.Workspace) + "/.", workspaceDir})
	}
	errs := make([]error, len(copies))
	var wg sync.WaitGroup
	for i, c := range copies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.Backend.CopyIn(ctx, b.Agent, c.src, c.dst); err != nil {
				errs[i] = fmt.Errorf("copying %s into the agent: %w", c.src, err)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	id, from := l.agentGitIdentity(ctx, s)
	hosts := gitHosts(pol.Git())
	// The CA, then git (gitScript), and the workspace goes to the agent
	// user when the image has one.
	script := `set -e
mkdir -p /etc/ssl/certs ` + workspaceDir + `
` + caScript + gitScript(id, from, hosts) + `if id -u agent >/dev/null 2>&1; then chown -R agent: ` + workspaceDir + `; echo agent; else echo root; fi`
	var out bytes.Buffer
	if err := l.Backend.Exec(ctx, b.Agent, ExecSpec{User: "0", Argv: []string{"sh", "-c", script}, Stdout: &out}); err != nil {
		return nil, fmt.Errorf("provisioning the agent (the bottle CA, git, the workspace's owner; the image needs sh): %w", err)
	}
	// The image printed this, so it is taken only if it is one of the two
	// answers the script gives.
	switch u := strings.TrimSpace(out.String()); u {
	case "agent", "root":
		b.AgentUser = u
	default:
		return nil, fmt.Errorf("provisioning the agent: unexpected answer %q from the image's shell", termsafe.Line(u))
	}
	return gitNotes(id, from, hosts), nil
}
