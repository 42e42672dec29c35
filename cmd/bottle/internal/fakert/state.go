package fakert

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// State is the fake engine's world: what exists, as the engines would
// report it. It is kept as JSON in Config.Dir between calls (each call is
// its own process under testscript).
type State struct {
	Networks   map[string]*Network   `json:"networks"`
	Containers map[string]*Container `json:"containers"`
	Images     map[string]*Image     `json:"images"`
	NextSubnet int                   `json:"next_subnet"` // networks get 172.30.N.0/24 in order
}

// Network is one network.
type Network struct {
	Name     string            `json:"name"`
	Internal bool              `json:"internal"`
	Options  map[string]string `json:"options,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	Subnet   string            `json:"subnet"`
	Gateway  string            `json:"gateway"`
	NextHost int               `json:"next_host"` // the next container's address is .NextHost
}

// Attachment is a container's address on one network.
type Attachment struct {
	Network string `json:"network"`
	IP      string `json:"ip"`
}

// Container is one container.
type Container struct {
	Name      string            `json:"name"`
	Image     string            `json:"image"`
	State     string            `json:"state"` // created, running, exited
	Networks  []Attachment      `json:"networks,omitempty"`
	NetworkOf string            `json:"network_of,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
	User      string            `json:"user,omitempty"`
	Env       []string          `json:"env,omitempty"` // names only: values never leave the env file
	Mounts    []string          `json:"mounts,omitempty"`
	Argv      []string          `json:"argv,omitempty"` // entrypoint and command
	Copied    []string          `json:"copied,omitempty"`
	Log       string            `json:"log,omitempty"`
	// Procs are the detached supervised commands that run (a sleep), by
	// the pid file bottle gave them.
	Procs map[string]*Proc `json:"procs,omitempty"`
}

// Proc is a detached supervised command that runs: its argv, and where
// its status file is on the host.
type Proc struct {
	Argv   []string `json:"argv"`
	Status string   `json:"status,omitempty"`
	// Attached: its exec waits for it; Ended is its exit status once
	// bottle-probe signal has ended it.
	Attached bool `json:"attached,omitempty"`
	Ended    *int `json:"ended,omitempty"`
}

// Image is one image.
type Image struct {
	Tag    string            `json:"tag"`
	ID     string            `json:"id,omitempty"` // "": sha256 of the tag (fakeID)
	Labels map[string]string `json:"labels,omitempty"`
}

// id is the image's ID as the engine reports it: "sha256:" and hex.
func (i *Image) id() string {
	if i.ID != "" {
		return i.ID
	}
	return "sha256:" + fakeID(i.Tag)
}

func newState() *State {
	return &State{Networks: map[string]*Network{}, Containers: map[string]*Container{}, Images: map[string]*Image{}}
}

// store is the state file and its lock.
type store struct{ dir string }

func (s store) path(name string) string { return filepath.Join(s.dir, name) }

// locked runs f with the state, holding the lock; what f leaves in the
// state is saved when f returns true.
func (s store) locked(f func(*State) bool) error {
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return err
	}
	lf, err := os.OpenFile(s.path("lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer lf.Close()
	// Calls come in parallel (the self-test's probes, the provisioning's
	// copies), each in its own process.
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer syscall.Flock(int(lf.Fd()), syscall.LOCK_UN)
	st := newState()
	data, err := os.ReadFile(s.path("state.json"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	default:
		if err := json.Unmarshal(data, st); err != nil {
			return fmt.Errorf("%s: %w", s.path("state.json"), err)
		}
	}
	if !f(st) {
		return nil
	}
	out, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := s.path("state.json.tmp")
	if err := os.WriteFile(tmp, out, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, s.path("state.json"))
}

// logCall appends one call to the argv log.
func (s store) logCall(line string) error {
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(s.path("argv.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	_, err = io.WriteString(f, line+"\n")
	return errors.Join(err, f.Close())
}

func labelString(l map[string]string) string {
	var kv []string
	for _, k := range slices.Sorted(maps.Keys(l)) {
		kv = append(kv, k+"="+l[k])
	}
	return strings.Join(kv, ",")
}

// Print writes the state sorted, one line per object: images, networks,
// containers. With resourcesOnly, images (which outlive bottles: they are
// a cache) are left out.
func (st *State) Print(w io.Writer, resourcesOnly bool) {
	if !resourcesOnly {
		for _, k := range slices.Sorted(maps.Keys(st.Images)) {
			im := st.Images[k]
			fmt.Fprintf(w, "image %s labels=%s\n", normalize(im.Tag), labelString(im.Labels))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(st.Networks)) {
		n := st.Networks[k]
		kind := "network"
		if n.Internal {
			kind = "network internal"
		}
		fmt.Fprintf(w, "%s %s subnet=%s", kind, n.Name, n.Subnet)
		if len(n.Options) > 0 {
			fmt.Fprintf(w, " options=%s", labelString(n.Options))
		}
		fmt.Fprintf(w, " labels=%s\n", normalize(labelString(n.Labels)))
	}
	for _, k := range slices.Sorted(maps.Keys(st.Containers)) {
		c := st.Containers[k]
		var nets []string
		for _, a := range c.Networks {
			nets = append(nets, a.Network+"="+a.IP)
		}
		if c.NetworkOf != "" {
			nets = append(nets, "container:"+c.NetworkOf)
		}
		fmt.Fprintf(w, "container %s %s image=%s networks=%s labels=%s\n", c.Name, c.State, normalize(c.Image), strings.Join(nets, ","), labelString(c.Labels))
		for _, pid := range slices.Sorted(maps.Keys(c.Procs)) {
			fmt.Fprintf(w, "  runs %s (%s)\n", strings.Join(c.Procs[pid].Argv, " "), pid)
		}
	}
}
