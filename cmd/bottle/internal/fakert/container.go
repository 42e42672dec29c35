package fakert

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
)

// containerVersion is the Apple container CLI the fake plays.
const containerVersion = "container CLI version 1.2.2 (build: release, commit: fakert)"

// What container run accepts from bottle (launcher/macoscontainer.RunArgs).
var containerRunFlags = flagSpec{
	"-d": false, "--progress": true, "--name": true, "--network": true, "--dns": true, "--cap-drop": true,
	"--env-file": true, "--memory": true, "--cpus": true, "-v": true, "--user": true, "-w": true,
	"--entrypoint": true, "--label": true,
}

// emitApple prints v the way Foundation's JSONEncoder does: sorted keys,
// "/" escaped; pretty (with " : ") for inspect, compact for lists.
func (c *call) emitApple(v any, pretty bool) {
	var b []byte
	if pretty {
		b, _ = json.MarshalIndent(v, "", "  ")
		b = bytes.ReplaceAll(b, []byte(`": `), []byte(`" : `))
	} else {
		b, _ = json.Marshal(v)
	}
	b = bytes.ReplaceAll(b, []byte("/"), []byte(`\/`))
	c.out.Write(append(b, '\n'))
}

// container interprets one call of Apple's container CLI.
func (c *call) container() int {
	if len(c.args) == 0 {
		return c.unknown("no command")
	}
	cmd, args := c.args[0], c.args[1:]
	if cmd == "--version" && len(args) == 0 {
		if code, failed := c.step("version"); failed {
			return code
		}
		fmt.Fprintln(c.out, containerVersion)
		return 0
	}
	if c.cfg.Down == "container" {
		if cmd == "system" {
			c.emitApple(map[string]string{"status": "stopped"}, false)
			return 1
		}
		return c.fail("Error: XPC connection error: Connection invalid")
	}
	switch cmd {
	case "system":
		p, err := parse(args, flagSpec{"--format": true}, false)
		if err != nil || len(p.pos) != 1 || p.pos[0] != "status" || p.last("--format") != "json" {
			return c.unknown("want system status --format json (%v)", err)
		}
		if code, failed := c.step("system status"); failed {
			return code
		}
		c.emitApple(map[string]string{"apiServerAppName": "container-apiserver", "apiServerVersion": "container-apiserver version 1.2.2", "status": "running"}, false)
		return 0
	case "builder":
		p, err := parse(args, flagSpec{"--dns": true}, false)
		if err != nil || len(p.pos) != 1 || p.pos[0] != "start" {
			return c.unknown("want builder start [--dns ADDR]... (%v)", err)
		}
		if code, failed := c.step("builder start"); failed {
			return code
		}
		return 0
	case "image":
		if len(args) != 2 || args[0] != "inspect" {
			return c.unknown("want image inspect TAG")
		}
		if code, failed := c.step("image inspect " + args[1]); failed {
			return code
		}
		img, ok := c.st.Images[args[1]]
		if !ok {
			return c.fail("Error: image not found: %s", args[1])
		}
		// 1.x: id is the index digest's hex (ImageResource).
		digest := img.id()
		c.emitApple([]any{map[string]any{"id": strings.TrimPrefix(digest, "sha256:"),
			"configuration": map[string]any{"name": args[1], "descriptor": map[string]any{"digest": digest, "mediaType": "application/vnd.oci.image.index.v1+json"}}}}, true)
		return 0
	case "build":
		p, err := parse(args, flagSpec{"--progress": true, "-t": true, "-f": true, "--build-arg": true, "--dns": true, "--label": true, "--no-cache": false}, false)
		if err != nil || len(p.pos) != 1 {
			return c.unknown("want build --progress plain -t TAG -f FILE [--build-arg K=V]... [--dns ADDR]... [--label K=V]... CONTEXT (%v)", err)
		}
		return c.build(p.last("-t"), p.last("-f"), p.pos[0], labels(p.vals["--label"]))
	case "network":
		return c.appleNetwork(args)
	case "run":
		return c.appleRun(args)
	case "inspect":
		if len(args) != 1 {
			return c.unknown("want inspect NAME")
		}
		if code, failed := c.step("inspect " + args[0]); failed {
			return code
		}
		ct, ok := c.st.Containers[args[0]]
		if !ok {
			return c.fail("Error: container not found: %s", args[0])
		}
		c.emitApple([]any{c.appleContainer(ct)}, true)
		return 0
	case "list":
		p, err := parse(args, flagSpec{"--all": false, "--format": true}, false)
		if err != nil || !p.set["--all"] || p.last("--format") != "json" || len(p.pos) > 0 {
			return c.unknown("want list --all --format json (%v)", err)
		}
		if code, failed := c.step("list"); failed {
			return code
		}
		// The builder always runs there, with Apple's labels and none of ours.
		all := []any{map[string]any{"id": "buildkit",
			"configuration": map[string]any{"id": "buildkit", "image": map[string]any{"reference": "ghcr.io/apple/container-builder-shim/builder:0.6.1"},
				"labels": map[string]string{"com.apple.container.plugin": "builder", "com.apple.container.resource.role": "builder"}},
			"status": map[string]any{"networks": []any{}, "state": "running"}}}
		for _, name := range slices.Sorted(maps.Keys(c.st.Containers)) {
			all = append(all, c.appleContainer(c.st.Containers[name]))
		}
		c.emitApple(all, false)
		return 0
	case "exec":
		return c.exec(args)
	case "cp":
		return c.copyIn(args)
	case "logs":
		return c.logs(args)
	case "stop", "delete":
		p, err := parse(args, flagSpec{"--force": false}, false)
		if err != nil || len(p.pos) != 1 || cmd == "stop" && p.set["--force"] {
			return c.unknown("want stop NAME or delete --force NAME, never --all (it would hit the builder) (%v)", err)
		}
		name := p.pos[0]
		if code, failed := c.step(cmd + " " + name); failed {
			return code
		}
		ct, ok := c.st.Containers[name]
		if !ok {
			return c.fail("Error: container not found: %s", name)
		}
		if cmd == "stop" {
			ct.State = "stopped"
		} else {
			delete(c.st.Containers, name)
			os.RemoveAll(c.root(name)) // its file system goes with it
		}
		c.dirty = true
		fmt.Fprintln(c.out, name)
		return 0
	}
	return c.unknown("unknown command %q", cmd)
}

// appleContainer is ct as a 1.x ManagedContainer (addresses as CIDR).
func (c *call) appleContainer(ct *Container) map[string]any {
	state := ct.State
	if state != "running" {
		state = "stopped"
	}
	nets := []any{}
	if state == "running" {
		for _, a := range ct.Networks {
			nets = append(nets, map[string]any{"hostname": ct.Name, "ipv4Address": a.IP + "/24",
				"ipv4Gateway": strings.TrimSuffix(a.IP, lastOctet(a.IP)) + "1", "mtu": 1280, "network": a.Network, "variant": "reserved"})
		}
	}
	return map[string]any{
		"id": ct.Name,
		"configuration": map[string]any{"id": ct.Name, "labels": orEmpty(ct.Labels),
			"image": map[string]any{"reference": "docker.io/library/" + ct.Image}},
		"status": map[string]any{"networks": nets, "state": state},
	}
}

// appleNetwork is n as a 1.x NetworkResource: --internal is hostOnly.
func appleNetwork(n *Network) map[string]any {
	mode := "nat"
	if n.Internal {
		mode = "hostOnly"
	}
	return map[string]any{
		"id":            n.Name,
		"configuration": map[string]any{"creationDate": "2026-11-27T00:00:00Z", "labels": orEmpty(n.Labels), "mode": mode, "name": n.Name, "options": map[string]any{}, "plugin": "container-network-vmnet"},
		"status":        map[string]any{"ipv4Subnet": n.Subnet, "ipv4Gateway": n.Gateway},
	}
}

func (c *call) appleNetwork(args []string) int {
	if len(args) == 0 {
		return c.unknown("network: no subcommand")
	}
	switch sub, rest := args[0], args[1:]; sub {
	case "create":
		p, err := parse(rest, flagSpec{"--internal": false, "--label": true}, false)
		if err != nil || len(p.pos) != 1 {
			return c.unknown("want network create [--internal] [--label K=V]... NAME (%v)", err)
		}
		name := p.pos[0]
		if code, failed := c.step("network create " + name); failed {
			return code
		}
		if _, ok := c.st.Networks[name]; ok || name == "default" {
			return c.fail("Error: network %s already exists", name)
		}
		c.newNetwork(name, p.set["--internal"], nil, labels(p.vals["--label"]))
		fmt.Fprintln(c.out, name)
		return 0
	case "inspect":
		if len(rest) != 1 {
			return c.unknown("want network inspect NAME")
		}
		if code, failed := c.step("network inspect " + rest[0]); failed {
			return code
		}
		n, ok := c.st.Networks[rest[0]]
		if !ok {
			return c.fail("Error: network not found: %s", rest[0])
		}
		c.emitApple([]any{appleNetwork(n)}, true)
		return 0
	case "list":
		p, err := parse(rest, flagSpec{"--format": true}, false)
		if err != nil || p.last("--format") != "json" || len(p.pos) > 0 {
			return c.unknown("want network list --format json (%v)", err)
		}
		if code, failed := c.step("network list"); failed {
			return code
		}
		// The built-in network is always there, and is not bottle's.
		all := []any{map[string]any{"id": "default",
			"configuration": map[string]any{"labels": map[string]string{"com.apple.container.resource.role": "builtin"}, "mode": "nat", "name": "default", "options": map[string]any{}, "plugin": "container-network-vmnet"},
			"status":        map[string]any{"ipv4Gateway": "192.168.64.1", "ipv4Subnet": "192.168.64.0/24"}}}
		for _, name := range slices.Sorted(maps.Keys(c.st.Networks)) {
			all = append(all, appleNetwork(c.st.Networks[name]))
		}
		c.emitApple(all, false)
		return 0
	case "delete":
		if len(rest) != 1 {
			return c.unknown("want network delete NAME")
		}
		if code, failed := c.step("network delete " + rest[0]); failed {
			return code
		}
		if _, ok := c.st.Networks[rest[0]]; !ok {
			return c.fail("Error: network not found: %s", rest[0])
		}
		if on := c.attached(rest[0]); len(on) > 0 {
			return c.fail("Error: cannot delete subnet of %s with referring containers", rest[0])
		}
		delete(c.st.Networks, rest[0])
		c.dirty = true
		fmt.Fprintln(c.out, rest[0])
		return 0
	}
	return c.unknown("unknown network command %q", args[0])
}

func (c *call) appleRun(args []string) int {
	p, err := parse(args, containerRunFlags, true)
	if err != nil {
		return c.unknown("%v", err)
	}
	name := p.last("--name")
	if !p.set["-d"] || p.last("--progress") != "none" || name == "" || len(p.pos) == 0 {
		return c.unknown("want run -d --progress none --name NAME [flags] IMAGE [ARGS...]")
	}
	if code, failed := c.step("run " + name); failed {
		return code
	}
	if len(name) < 2 || len(name) > 63 {
		return c.fail("Error: invalid container ID %q: must be 2 to 63 characters", name)
	}
	if _, ok := c.st.Containers[name]; ok {
		return c.fail("Error: container with id %s already exists", name)
	}
	image := p.pos[0]
	if _, ok := c.st.Images[image]; !ok {
		// Apple's run would pull it; bottle checks first, so the fake says
		// so loudly instead.
		return c.unknown("run of image %s that is not here: container would pull it", image)
	}
	ct := &Container{Name: name, Image: image, State: "running", Labels: labels(p.vals["--label"]), User: p.last("--user"), Mounts: p.vals["-v"]}
	for _, nn := range p.vals["--network"] {
		n, ok := c.st.Networks[nn]
		if !ok {
			return c.fail("Error: network not found: %s", nn)
		}
		c.attach(ct, n)
	}
	if ef := p.last("--env-file"); ef != "" {
		if ct.Env, err = envNames(ef); err != nil {
			return c.fail("Error: %v", err)
		}
	}
	if ep := p.last("--entrypoint"); ep != "" {
		ct.Argv = append(ct.Argv, ep)
	}
	ct.Argv = append(ct.Argv, p.pos[1:]...)
	c.st.Containers[name] = ct
	c.dirty = true
	fmt.Fprintln(c.out, name)
	return 0
}
