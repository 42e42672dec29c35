package fakebackend

import (
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"bottle.dev/bottle/launcher"
)

// The scripts an agent recipe's provisioning runs in the agent, as the
// fake plays them on the container's file system (Root): each begins with
// a "# bottle: " comment that names it, and gets its words as arguments.
// Who wrote each file is kept (Owner).

// agentScript plays script (e.Argv[2]) in container name; args are its
// arguments after $0.
func (f *Backend) agentScript(name string, e launcher.ExecSpec) error {
	script, args := e.Argv[2], e.Argv[4:]
	first, _, _ := strings.Cut(script, "\n")
	f.mu.Lock()
	root := f.rootLocked(name)
	f.mu.Unlock()
	host := func(p string) string { return filepath.Join(root, filepath.FromSlash(p)) }
	user := e.User
	if user == "0" {
		user = "root"
	}
	out := func(s string) {
		if e.Stdout != nil {
			io.WriteString(e.Stdout, s)
		}
	}
	switch {
	case first == "# bottle: the agent user's home" && len(args) == 0:
		switch user {
		case "agent":
			out("/home/agent\n")
		case "root":
			out("/root\n")
		default:
			return f.unexpected("Exec in %s: the home of user %q, which the image does not have", name, e.User)
		}
		return nil
	case first == "# bottle: read a file of the agent's" && len(args) == 1:
		st, err := os.Stat(host(args[0]))
		switch {
		case err == nil && st.Mode().IsRegular():
			data, err := os.ReadFile(host(args[0]))
			if err != nil {
				return err
			}
			out(string(data))
			return nil
		case err == nil:
			return exitError(e.Argv, 4)
		}
		return exitError(e.Argv, 3)
	case first == "# bottle: write a file of the agent's" && len(args) == 3 && e.Stdin != nil:
		p := host(args[0])
		if err := os.MkdirAll(host(args[2]), 0o755); err != nil {
			return err
		}
		if _, err := os.Lstat(p); err == nil && args[1] == "new" {
			out("exists\n")
			return nil
		}
		data, err := io.ReadAll(e.Stdin)
		if err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
		f.own(name, args[0], user)
		out("written\n")
		return nil
	case first == "# bottle: make a directory of the agent's" && len(args) == 1:
		return os.MkdirAll(host(args[0]), 0o755)
	case first == "# bottle: give the agent user what was copied in" && len(args) >= 3 && user == "root":
		for _, n := range args[2:] {
			err := filepath.WalkDir(host(path.Join(args[1], n)), func(p string, _ fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				rel, _ := filepath.Rel(root, p)
				f.own(name, "/"+filepath.ToSlash(rel), args[0])
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	}
	return f.unexpected("Exec in %s as %q: a provisioning script the fake does not know: %q", name, e.User, e.Argv)
}

// own records that user owns path p of container name.
func (f *Backend) own(name, p, user string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.owners == nil {
		f.owners = map[string]string{}
	}
	f.owners[name+":"+p] = user
}

// Owner is who owns path p of container name: the user who wrote it or
// was given it, "root" for what the engine copied in, "" for what the
// fake does not know.
func (f *Backend) Owner(name, p string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.owners[name+":"+p]
}

// Dockerfile is the Dockerfile image tag was built from, as the build
// read it.
func (f *Backend) Dockerfile(tag string) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dockerfiles[tag]
}
