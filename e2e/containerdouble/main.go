// Command container is a test double of Apple's `container` CLI (1.x) that
// runs on Docker, so that bottle's macos-container backend — its argv, its
// JSON parsing, the whole launch path and the adversarial battery — runs
// where no Mac is. It implements the subset bottle uses, prints the 1.x JSON
// shapes (sorted keys, escaped slashes, addresses as CIDR strings) and
// Apple's error messages with exit status 1. Test code only; never shipped.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

const version = "container CLI version 1.2.2 (build: release, commit: bottledouble)"

func main() {
	os.Exit(run(os.Args[1:]))
}

func fail(format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "Error: "+format+"\n", args...)
	return 1
}

// docker runs the real engine; its stdout is returned, its stderr kept for
// errors.
func docker(args ...string) (string, string, int) {
	cmd := exec.Command("docker", args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		code = 127
	}
	return strings.TrimSpace(out.String()), errb.String(), code
}

// passthrough runs docker with our stdio (exec, logs): exit status carries.
func passthrough(args ...string) int {
	cmd := exec.Command("docker", args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		return 1
	}
	return 0
}

// emit prints v the way Foundation's JSONEncoder does: sorted keys (Go's
// maps already sort), "/" escaped; pretty for inspect, compact for lists.
func emit(v any, pretty bool) {
	var b []byte
	if pretty {
		b, _ = json.MarshalIndent(v, "", "  ")
		b = bytes.ReplaceAll(b, []byte(`": `), []byte(`" : `))
	} else {
		b, _ = json.Marshal(v)
	}
	b = bytes.ReplaceAll(b, []byte("/"), []byte(`\/`))
	os.Stdout.Write(append(b, '\n'))
}

func run(args []string) int {
	if len(args) == 0 {
		return fail("no command")
	}
	switch args[0] {
	case "--version":
		fmt.Println(version)
		return 0
	case "system":
		if len(args) > 1 && args[1] == "status" {
			emit(map[string]any{"apiServerAppName": "container-apiserver", "apiServerVersion": "container-apiserver version 1.2.2", "status": "running"}, false)
			return 0
		}
	case "builder":
		return 0 // the double's builder is docker's: nothing to start
	case "image":
		if len(args) == 3 && args[1] == "inspect" {
			id, _, code := docker("image", "inspect", "--format", "{{.Id}}", args[2])
			if code != 0 {
				return fail("image not found: %s", args[2])
			}
			// 1.x: id is the digest's hex, and the descriptor has the
			// digest (ImageResource); docker's image ID stands in for it,
			// so a rebuilt image has a new one, as on Apple's.
			emit([]any{map[string]any{"id": strings.TrimPrefix(id, "sha256:"),
				"configuration": map[string]any{"name": args[2], "descriptor": map[string]any{"digest": id}}}}, true)
			return 0
		}
	case "build":
		return build(args[1:])
	case "network":
		return network(args[1:])
	case "run":
		return runContainer(args[1:])
	case "inspect":
		return inspect(args[1:], true)
	case "list", "ls":
		return inspect(nil, false)
	case "exec":
		return passthrough(append([]string{"exec"}, args[1:]...)...)
	case "cp", "copy":
		if len(args) != 3 {
			return fail("cp takes SRC DST")
		}
		_, errs, code := docker("cp", args[1], args[2])
		if code != 0 {
			return fail("%s", strings.TrimSpace(errs))
		}
		fmt.Println(args[2])
		return 0
	case "logs":
		return passthrough(append([]string{"logs"}, args[1:]...)...)
	case "stop", "delete", "rm":
		for _, a := range args[1:] {
			if a == "--all" || a == "-a" {
				return fail("the double refuses --all: it would stop the builder too")
			}
		}
		id := args[len(args)-1]
		if _, _, code := docker("inspect", id); code != 0 {
			return fail("container not found: %s", id)
		}
		dargs := []string{"stop", "-t", "1", id}
		if args[0] != "stop" {
			dargs = []string{"rm", "-f", id}
		}
		if _, errs, code := docker(dargs...); code != 0 {
			return fail("%s", strings.TrimSpace(errs))
		}
		fmt.Println(id)
		return 0
	}
	return fail("unsupported command in the test double: %s", strings.Join(args, " "))
}

func build(args []string) int {
	dargs := []string{"build", "-q"}
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "--progress", "--dns":
			i++ // docker build has no such flags; the builder's DNS is the engine's
		case "-t", "-f", "--build-arg", "--label":
			dargs = append(dargs, args[i], args[i+1])
			i++
		default:
			dargs = append(dargs, args[i])
		}
	}
	return passthrough(dargs...)
}

// networkJSON is the 1.x NetworkResource shape.
func networkJSON(name string) (map[string]any, error) {
	out, _, code := docker("network", "inspect", name)
	if code != 0 {
		return nil, fmt.Errorf("network not found: %s", name)
	}
	var ns []struct {
		Name     string            `json:"Name"`
		Internal bool              `json:"Internal"`
		Labels   map[string]string `json:"Labels"`
		IPAM     struct {
			Config []struct{ Subnet, Gateway string } `json:"Config"`
		} `json:"IPAM"`
	}
	if err := json.Unmarshal([]byte(out), &ns); err != nil || len(ns) != 1 {
		return nil, fmt.Errorf("network not found: %s", name)
	}
	n := ns[0]
	mode := "nat"
	if n.Internal || n.Labels["dev.bottle.double.leaky"] == "true" {
		mode = "hostOnly"
	}
	delete(n.Labels, "dev.bottle.double.leaky")
	status := map[string]any{}
	for _, c := range n.IPAM.Config {
		if strings.Contains(c.Subnet, ".") {
			status["ipv4Subnet"], status["ipv4Gateway"] = c.Subnet, c.Gateway
		}
	}
	labels := n.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	if n.Name == "bridge" {
		labels = map[string]string{"com.apple.container.resource.role": "builtin"}
	}
	return map[string]any{
		"id":            n.Name,
		"configuration": map[string]any{"creationDate": "2026-11-27T00:00:00Z", "labels": labels, "mode": mode, "name": n.Name, "options": map[string]any{}, "plugin": "container-network-vmnet"},
		"status":        status,
	}, nil
}

func network(args []string) int {
	if len(args) == 0 {
		return fail("network: missing subcommand")
	}
	switch args[0] {
	case "create":
		dargs := []string{"network", "create"}
		name := ""
		for i := 1; i < len(args); i++ {
			switch args[i] {
			case "--internal":
				// hostOnly: no route out; on Docker also no host address.
				// CONTAINER_DOUBLE_LEAKY_HOSTONLY=1 plays a vmnet whose
				// hostOnly network leaks (apple/container#1320, #2062): a
				// plain bridge with the host on it, reported as hostOnly.
				if os.Getenv("CONTAINER_DOUBLE_LEAKY_HOSTONLY") == "" {
					dargs = append(dargs, "--internal", "-o", "com.docker.network.bridge.inhibit_ipv4=true")
				} else {
					dargs = append(dargs, "--label", "dev.bottle.double.leaky=true")
				}
			case "--label":
				k, _, _ := strings.Cut(args[i+1], "=")
				if k != strings.ToLower(k) || strings.Contains(k, "_") {
					return fail("invalid label key: %s", k)
				}
				dargs = append(dargs, "--label", args[i+1])
				i++
			default:
				name = args[i]
			}
		}
		if name == "" || name != strings.ToLower(name) || name == "none" {
			return fail("invalid network name: %q", name)
		}
		if _, errs, code := docker(append(dargs, name)...); code != 0 {
			if strings.Contains(errs, "already exists") {
				return fail("network %s already exists", name)
			}
			return fail("%s", strings.TrimSpace(errs))
		}
		fmt.Println(name)
		return 0
	case "inspect":
		var all []any
		for _, n := range args[1:] {
			j, err := networkJSON(n)
			if err != nil {
				return fail("%v", err)
			}
			all = append(all, j)
		}
		emit(all, true)
		return 0
	case "list", "ls":
		out, _, _ := docker("network", "ls", "--format", "{{.Name}}")
		all := []any{}
		for _, n := range strings.Fields(out) {
			if n == "host" || n == "none" {
				continue
			}
			if j, err := networkJSON(n); err == nil {
				all = append(all, j)
			}
		}
		emit(all, false)
		return 0
	case "delete", "rm":
		for _, n := range args[1:] {
			if _, errs, code := docker("network", "rm", n); code != 0 {
				if strings.Contains(errs, "No such network") || strings.Contains(errs, "not found") {
					return fail("network not found: %s", n)
				}
				if strings.Contains(errs, "active endpoints") {
					return fail("cannot delete subnet of %s with referring containers", n)
				}
				return fail("%s", strings.TrimSpace(errs))
			}
			fmt.Println(n)
		}
		return 0
	}
	return fail("unsupported: network %s", args[0])
}

func runContainer(args []string) int {
	var name, image string
	var nets, create, rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch a {
		case "-d", "--detach":
		case "--progress":
			i++
		case "--name":
			name = args[i+1]
			i++
		case "--network":
			nets = append(nets, args[i+1])
			i++
		case "--dns", "--cap-drop", "-e", "--env-file", "-v", "--user", "-w", "--entrypoint", "-l", "--label", "--memory", "--cpus":
			create = append(create, a, args[i+1])
			i++
		default:
			if strings.HasPrefix(a, "-") {
				return fail("the double does not know flag %s", a)
			}
			image, rest = a, args[i+1:]
			i = len(args)
		}
	}
	if len(name) < 2 || len(name) > 63 {
		return fail("invalid container ID %q: must be 2 to 63 characters", name)
	}
	if _, _, code := docker("inspect", name); code == 0 {
		return fail("container with id %s already exists", name)
	}
	// Apple's run pulls a missing image; bottle checks first. The double never
	// pulls (no registry is reachable from the tests anyway).
	dargs := []string{"create", "--name", name, "--pull", "never"}
	if len(nets) > 0 {
		dargs = append(dargs, "--network", nets[0])
	}
	dargs = append(append(dargs, create...), image)
	if _, errs, code := docker(append(dargs, rest...)...); code != 0 {
		return fail("%s", strings.TrimSpace(errs))
	}
	for _, n := range nets[1:] {
		if _, errs, code := docker("network", "connect", n, name); code != 0 {
			return fail("%s", strings.TrimSpace(errs))
		}
	}
	if _, errs, code := docker("start", name); code != 0 {
		return fail("%s", strings.TrimSpace(errs))
	}
	fmt.Println(name)
	return 0
}

// inspect prints ManagedContainer objects: the named ones (pretty), or all
// (compact, for list --all --format json).
func inspect(ids []string, pretty bool) int {
	if ids == nil {
		out, _, _ := docker("ps", "-aq", "--no-trunc")
		ids = strings.Fields(out)
	}
	all := []any{}
	var missing []string
	for _, id := range ids {
		out, _, code := docker("inspect", id)
		var cs []struct {
			Name  string `json:"Name"`
			State struct {
				Status string `json:"Status"`
			} `json:"State"`
			Config struct {
				Image  string            `json:"Image"`
				Labels map[string]string `json:"Labels"`
			} `json:"Config"`
			NetworkSettings struct {
				Networks map[string]struct {
					IPAddress   string `json:"IPAddress"`
					IPPrefixLen int    `json:"IPPrefixLen"`
					Gateway     string `json:"Gateway"`
				} `json:"Networks"`
			} `json:"NetworkSettings"`
		}
		if code != 0 || json.Unmarshal([]byte(out), &cs) != nil || len(cs) != 1 {
			missing = append(missing, id)
			continue
		}
		c := cs[0]
		name := strings.TrimPrefix(c.Name, "/")
		state := "stopped"
		if c.State.Status == "running" {
			state = "running"
		}
		attachments := []any{}
		if state == "running" {
			for n, s := range c.NetworkSettings.Networks {
				attachments = append(attachments, map[string]any{"hostname": name, "ipv4Address": fmt.Sprintf("%s/%d", s.IPAddress, s.IPPrefixLen),
					"ipv4Gateway": s.Gateway, "mtu": 1280, "network": n, "variant": "reserved"})
			}
		}
		labels := c.Config.Labels
		if labels == nil {
			labels = map[string]string{}
		}
		all = append(all, map[string]any{
			"id": name,
			"configuration": map[string]any{"id": name, "labels": labels,
				"image": map[string]any{"reference": "docker.io/library/" + c.Config.Image}},
			"status": map[string]any{"networks": attachments, "state": state},
		})
	}
	if len(missing) > 0 {
		return fail("container not found: %s", strings.Join(missing, ", "))
	}
	emit(all, pretty)
	return 0
}
