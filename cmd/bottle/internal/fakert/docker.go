package fakert

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// dockerVersion is the engine the fake plays (the one the e2e suite runs).
const dockerVersion = "20.10.24"

// What docker create/run accepts from bottle (launcher/docker.CreateArgs).
var dockerCreateFlags = flagSpec{
	"--name": true, "--pull": true, "--no-healthcheck": false, "--log-opt": true, "--network": true,
	"--pids-limit": true, "--sysctl": true, "--dns": true, "--cap-drop": true, "--env-file": true,
	"--memory": true, "--cpus": true, "-v": true, "--user": true, "-w": true, "--entrypoint": true, "--label": true,
	"--ip": true,
}

var execFlags = flagSpec{"-d": false, "-i": false, "-t": false, "-u": true, "-w": true, "-e": true}

// docker interprets one docker CLI call.
func (c *call) docker() int {
	if len(c.args) == 0 {
		return c.unknown("no command")
	}
	if c.cfg.Down == "docker" {
		// What the CLI says with no daemon behind its socket.
		return c.fail("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?")
	}
	cmd, args := c.args[0], c.args[1:]
	switch cmd {
	case "version":
		p, err := parse(args, flagSpec{"--format": true}, false)
		if err != nil || p.last("--format") != "{{.Server.Version}}" || len(p.pos) > 0 {
			return c.unknown("only version --format {{.Server.Version}}")
		}
		if code, failed := c.step("version"); failed {
			return code
		}
		fmt.Fprintln(c.out, dockerVersion)
		return 0
	case "image":
		if len(args) == 0 || args[0] != "inspect" {
			return c.unknown("unknown image command")
		}
		p, err := parse(args[1:], flagSpec{"--format": true}, false)
		if err != nil || len(p.pos) != 1 || p.last("--format") != "{{.Id}}" {
			return c.unknown("want image inspect --format {{.Id}} TAG (%v)", err)
		}
		if code, failed := c.step("image inspect " + p.pos[0]); failed {
			return code
		}
		img, ok := c.st.Images[p.pos[0]]
		if !ok {
			return c.fail("Error: No such image: %s", p.pos[0])
		}
		fmt.Fprintln(c.out, img.id())
		return 0
	case "build":
		p, err := parse(args, flagSpec{"-f": true, "-t": true, "--build-arg": true, "--label": true, "--no-cache": false, "--force-rm": false}, false)
		if err != nil || len(p.pos) != 1 {
			return c.unknown("want build [--force-rm] -f FILE -t TAG [--build-arg K=V]... [--label K=V]... CONTEXT (%v)", err)
		}
		return c.build(p.last("-t"), p.last("-f"), p.pos[0], labels(p.vals["--label"]))
	case "network":
		return c.dockerNetwork(args)
	case "create":
		return c.dockerCreate(args)
	case "start":
		if len(args) != 1 {
			return c.unknown("want start NAME")
		}
		if code, failed := c.step("start " + args[0]); failed {
			return code
		}
		ct, ok := c.st.Containers[args[0]]
		if !ok {
			return c.fail("Error response from daemon: No such container: %s\nError: failed to start containers: %s", args[0], args[0])
		}
		ct.State, c.dirty = "running", true
		fmt.Fprintln(c.out, args[0])
		return 0
	case "container":
		if len(args) != 2 || args[0] != "inspect" {
			return c.unknown("want container inspect NAME")
		}
		if code, failed := c.step("container inspect " + args[1]); failed {
			return code
		}
		ct, ok := c.st.Containers[args[1]]
		if !ok {
			return c.fail("Error: No such container: %s", args[1])
		}
		return c.emitDockerContainer(ct)
	case "exec":
		return c.exec(args)
	case "cp":
		return c.copyIn(args)
	case "logs":
		return c.logs(args)
	case "rm":
		p, err := parse(args, flagSpec{"-f": false}, false)
		if err != nil || !p.set["-f"] || len(p.pos) != 1 {
			return c.unknown("want rm -f NAME (%v)", err)
		}
		if code, failed := c.step("rm " + p.pos[0]); failed {
			return code
		}
		if _, ok := c.st.Containers[p.pos[0]]; !ok {
			return c.fail("Error: No such container: %s", p.pos[0])
		}
		delete(c.st.Containers, p.pos[0])
		os.RemoveAll(c.root(p.pos[0])) // its file system goes with it
		c.dirty = true
		fmt.Fprintln(c.out, p.pos[0])
		return 0
	case "ps":
		p, err := parse(args, flagSpec{"-a": false, "--filter": true, "--format": true}, false)
		if err != nil || !p.set["-a"] || p.last("--format") != "{{json .}}" || len(p.pos) > 0 {
			return c.unknown("want ps -a [--filter label=K=V]... --format {{json .}} (%v)", err)
		}
		want, err := labelFilters(p.vals["--filter"])
		if err != nil {
			return c.unknown("%v", err)
		}
		if code, failed := c.step("ps"); failed {
			return code
		}
		for _, name := range slices.Sorted(maps.Keys(c.st.Containers)) {
			ct := c.st.Containers[name]
			if !hasLabels(ct.Labels, want) {
				continue
			}
			line, _ := json.Marshal(map[string]string{"ID": fakeID(ct.Name)[:12], "Image": ct.Image, "Names": ct.Name, "State": ct.State, "Labels": labelString(ct.Labels)})
			fmt.Fprintln(c.out, string(line))
		}
		return 0
	}
	return c.unknown("unknown command %q", cmd)
}

// labelFilters reads --filter label=K=V values.
func labelFilters(fs []string) (map[string]string, error) {
	want := map[string]string{}
	for _, f := range fs {
		kv, ok := strings.CutPrefix(f, "label=")
		if !ok {
			return nil, fmt.Errorf("filter %q: the fake knows label=K=V only", f)
		}
		k, v, _ := strings.Cut(kv, "=")
		want[k] = v
	}
	return want, nil
}

func (c *call) dockerNetwork(args []string) int {
	if len(args) == 0 {
		return c.unknown("network: no subcommand")
	}
	switch sub, rest := args[0], args[1:]; sub {
	case "create":
		p, err := parse(rest, flagSpec{"--driver": true, "--internal": false, "-o": true, "--label": true, "--subnet": true}, false)
		if err != nil || len(p.pos) != 1 || p.last("--driver") != "bridge" {
			return c.unknown("want network create --driver bridge [--internal] [-o K=V]... [--subnet CIDR] [--label K=V]... NAME (%v)", err)
		}
		name := p.pos[0]
		if code, failed := c.step("network create " + name); failed {
			return code
		}
		if _, ok := c.st.Networks[name]; ok {
			return c.fail("Error response from daemon: network with name %s already exists", name)
		}
		subnet := p.last("--subnet")
		if subnet != "" {
			want, err := netip.ParsePrefix(subnet)
			if err != nil || !want.Addr().Is4() || want.Bits() != 24 {
				return c.unknown("the fake takes a /24 IPv4 --subnet, not %q", subnet)
			}
			for _, n := range c.st.Networks {
				if have, err := netip.ParsePrefix(n.Subnet); err == nil && have.Overlaps(want) {
					return c.fail("Error response from daemon: invalid pool request: Pool overlaps with other one on this address space")
				}
			}
		}
		c.newNetwork(name, p.set["--internal"], labels(p.vals["-o"]), labels(p.vals["--label"]))
		if subnet != "" {
			n := c.st.Networks[name]
			n.Subnet, n.Gateway = subnet, strings.TrimSuffix(subnet, "0/24")+"1"
		}
		fmt.Fprintln(c.out, fakeID(name))
		return 0
	case "inspect":
		if len(rest) > 2 && rest[0] == "--format" && rest[1] == "{{range .IPAM.Config}}{{.Subnet}} {{end}}" {
			// The subnets of the networks named (by ID, as network ls -q
			// gives them), one line each.
			if code, failed := c.step("network inspect --format"); failed {
				return code
			}
			for _, id := range rest[2:] {
				n := c.networkByID(id)
				if n == nil {
					return c.fail("Error: No such network: %s", id)
				}
				fmt.Fprintln(c.out, n.Subnet+" ")
			}
			return 0
		}
		if len(rest) != 1 {
			return c.unknown("want network inspect NAME")
		}
		if code, failed := c.step("network inspect " + rest[0]); failed {
			return code
		}
		n, ok := c.st.Networks[rest[0]]
		if !ok {
			return c.fail("Error: No such network: %s", rest[0])
		}
		out, _ := json.MarshalIndent([]any{map[string]any{
			"Name": n.Name, "Id": fakeID(n.Name), "Driver": "bridge", "Internal": n.Internal,
			"Labels": orEmpty(n.Labels), "Options": orEmpty(n.Options),
			"IPAM": map[string]any{"Driver": "default", "Config": []any{map[string]string{"Subnet": n.Subnet, "Gateway": n.Gateway}}},
		}}, "", "    ")
		fmt.Fprintln(c.out, string(out))
		return 0
	case "rm":
		if len(rest) != 1 {
			return c.unknown("want network rm NAME")
		}
		if code, failed := c.step("network rm " + rest[0]); failed {
			return code
		}
		if _, ok := c.st.Networks[rest[0]]; !ok {
			return c.fail("Error: No such network: %s", rest[0])
		}
		if on := c.attached(rest[0]); len(on) > 0 {
			return c.fail("Error response from daemon: error while removing network: network %s id %s has active endpoints", rest[0], fakeID(rest[0]))
		}
		delete(c.st.Networks, rest[0])
		c.dirty = true
		fmt.Fprintln(c.out, rest[0])
		return 0
	case "connect":
		ip := ""
		if len(rest) == 4 && rest[0] == "--ip" {
			ip, rest = rest[1], rest[2:]
		}
		if len(rest) != 2 {
			return c.unknown("want network connect [--ip IP] NETWORK CONTAINER")
		}
		if code, failed := c.step("network connect " + rest[0] + " " + rest[1]); failed {
			return code
		}
		n, ok := c.st.Networks[rest[0]]
		if !ok {
			return c.fail("Error response from daemon: network %s not found", rest[0])
		}
		ct, ok := c.st.Containers[rest[1]]
		if !ok {
			return c.fail("Error response from daemon: No such container: %s", rest[1])
		}
		if ip != "" {
			return c.attachAt(ct, n, ip)
		}
		c.attach(ct, n)
		return 0
	case "ls":
		if len(rest) == 1 && rest[0] == "-q" {
			if code, failed := c.step("network ls -q"); failed {
				return code
			}
			if !c.cfg.Subnets {
				return c.fail("Error response from daemon: fakert lists network IDs only with FAKERT_SUBNETS=1")
			}
			for _, name := range slices.Sorted(maps.Keys(c.st.Networks)) {
				fmt.Fprintln(c.out, fakeID(name)[:12])
			}
			return 0
		}
		p, err := parse(rest, flagSpec{"--filter": true, "--format": true}, false)
		if err != nil || p.last("--format") != "{{json .}}" || len(p.pos) > 0 {
			return c.unknown("want network ls [--filter label=K=V]... --format {{json .}} (%v)", err)
		}
		want, err := labelFilters(p.vals["--filter"])
		if err != nil {
			return c.unknown("%v", err)
		}
		if code, failed := c.step("network ls"); failed {
			return code
		}
		for _, name := range slices.Sorted(maps.Keys(c.st.Networks)) {
			n := c.st.Networks[name]
			if !hasLabels(n.Labels, want) {
				continue
			}
			line, _ := json.Marshal(map[string]string{"ID": fakeID(n.Name)[:12], "Name": n.Name, "Driver": "bridge", "Scope": "local",
				"Internal": fmt.Sprint(n.Internal), "Labels": labelString(n.Labels)})
			fmt.Fprintln(c.out, string(line))
		}
		return 0
	}
	return c.unknown("unknown network command %q", args[0])
}

func (c *call) dockerCreate(args []string) int {
	p, err := parse(args, dockerCreateFlags, true)
	if err != nil {
		return c.unknown("%v", err)
	}
	name := p.last("--name")
	if name == "" || len(p.pos) == 0 {
		return c.unknown("want create --name NAME [flags] IMAGE [ARGS...]")
	}
	if p.last("--pull") != "never" {
		return c.unknown("bottle never pulls: create without --pull never")
	}
	if code, failed := c.step("create " + name); failed {
		return code
	}
	if _, ok := c.st.Containers[name]; ok {
		return c.fail("Error response from daemon: Conflict. The container name \"/%s\" is already in use by container %q. You have to remove (or rename) that container to be able to reuse that name.", name, fakeID(name))
	}
	image := p.pos[0]
	if _, ok := c.st.Images[image]; !ok {
		return c.fail("Error response from daemon: No such image: %s", image)
	}
	ct := &Container{Name: name, Image: image, State: "created", Labels: labels(p.vals["--label"]), User: p.last("--user"), Mounts: p.vals["-v"]}
	if nets := p.vals["--network"]; len(nets) > 1 {
		return c.unknown("one --network at create (the others are connected)")
	} else if len(nets) == 1 {
		if of, ok := strings.CutPrefix(nets[0], "container:"); ok {
			other, ok := c.st.Containers[of]
			if !ok || other.State != "running" {
				return c.fail("Error response from daemon: cannot join network of a non running container: %s", of)
			}
			ct.NetworkOf = of
		} else if n, ok := c.st.Networks[nets[0]]; ok && p.last("--ip") != "" {
			if code := c.attachAt(ct, n, p.last("--ip")); code != 0 {
				return code
			}
		} else if ok {
			c.attach(ct, n)
		} else {
			return c.fail("Error response from daemon: network %s not found", nets[0])
		}
	}
	if ef := p.last("--env-file"); ef != "" {
		if ct.Env, err = envNames(ef); err != nil {
			return c.fail("open %s: %v", ef, err)
		}
	}
	if ep := p.last("--entrypoint"); ep != "" {
		ct.Argv = append(ct.Argv, ep)
	}
	ct.Argv = append(ct.Argv, p.pos[1:]...)
	c.st.Containers[name] = ct
	c.dirty = true
	fmt.Fprintln(c.out, fakeID(name))
	return 0
}

func (c *call) emitDockerContainer(ct *Container) int {
	nets := map[string]any{}
	for _, a := range ct.Networks {
		nets[a.Network] = map[string]any{"IPAddress": a.IP, "IPPrefixLen": 24, "Gateway": strings.TrimSuffix(a.IP, lastOctet(a.IP)) + "1"}
	}
	out, _ := json.MarshalIndent([]any{map[string]any{
		"Id": fakeID(ct.Name), "Name": "/" + ct.Name,
		"State":           map[string]any{"Status": ct.State, "Running": ct.State == "running"},
		"Config":          map[string]any{"Image": ct.Image, "Labels": orEmpty(ct.Labels)},
		"NetworkSettings": map[string]any{"Networks": nets},
	}}, "", "    ")
	fmt.Fprintln(c.out, string(out))
	return 0
}

func lastOctet(ip string) string { return ip[strings.LastIndex(ip, ".")+1:] }

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// build makes image tag from a Dockerfile and context that must exist.
func (c *call) build(tag, dockerfile, dir string, lbls map[string]string) int {
	if tag == "" || dockerfile == "" {
		return c.unknown("build without -t or -f")
	}
	if code, failed := c.step("build " + tag); failed {
		return code
	}
	df, err := os.ReadFile(dockerfile)
	if err != nil {
		return c.fail("ERROR: failed to read dockerfile: %v", err)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return c.fail("ERROR: unable to prepare context: path %q not found", dir)
	}
	// COPY sources must be in the context, as a real build needs them.
	for _, line := range strings.Split(string(df), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && strings.EqualFold(f[0], "COPY") && !strings.HasPrefix(f[1], "--") {
			if _, err := os.Stat(filepath.Join(dir, f[1])); err != nil {
				return c.fail("ERROR: failed to compute cache key: %q not found", f[1])
			}
		}
	}
	c.st.Images[tag] = &Image{Tag: tag, Labels: lbls}
	c.dirty = true
	fmt.Fprintf(c.out, "fakert: built %s\n", tag)
	return 0
}
