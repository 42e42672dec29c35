package recipe

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/internal/yamlnode"
)

// MaxFileSize bounds what Load reads: a recipe is a short hand-written file.
const MaxFileSize = 1 << 20

// keys are a recipe's top-level keys, in the order the format lists them.
var keys = []string{"version", "name", "description", "install", "command", "unattended", "env",
	"allow", "credentials", "instructions", "skills", "files"}

// policyKeys are the keys that are the allowlist's, exactly as in
// allowlist.yaml; the rest are the recipe's own.
var policyKeys = []string{"allow", "credentials"}

var (
	installKeys = []string{"npm", "run"}
	fileKeys    = []string{"path", "content"}
)

// nameRE is what a recipe's name may be: it is a file name, part of an
// image tag and of --agent's value.
var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// MaxName is the longest name a recipe may have.
const MaxName = 40

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// reservedEnv are the variables bottle gives the agent itself (launcher's
// proxyEnv): the proxy, the CA bundle for every common tool and the
// supervise MCP server. A recipe that set one would point the agent around
// the proxy or away from the bottle CA, so it may not.
var reservedEnv = []string{
	"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "NO_PROXY", "no_proxy",
	"MCP_SUPERVISE_URL", "NODE_USE_ENV_PROXY",
	"SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO",
	"PIP_CERT", "AWS_CA_BUNDLE", "CARGO_HTTP_CAINFO", "DENO_CERT",
}

// ValidName reports whether name can be a recipe's name, and why not.
func ValidName(name string) error {
	switch {
	case name == "":
		return errors.New("an agent recipe's name is empty")
	case len(name) > MaxName:
		return fmt.Errorf("agent recipe name %q is longer than %d characters", name, MaxName)
	case !nameRE.MatchString(name):
		return fmt.Errorf("agent recipe name %q may hold only lower-case letters, digits and '-', and starts with a letter or digit", name)
	}
	return nil
}

// Load reads and validates the recipe at path. Every problem is reported
// at once as FILE:LINE:COL: message (an allowlist.ErrorList).
func Load(path string) (*Recipe, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return parse(path, data, "")
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return data, nil
}

// Parse validates the bytes of a recipe; file names it in messages and is
// the Recipe's File.
func Parse(file string, data []byte) (*Recipe, error) {
	return parse(file, data, "")
}

// parse is Parse that, with want set (a recipe found by name), requires
// the recipe's name to be want.
func parse(file string, data []byte, want string) (*Recipe, error) {
	if len(data) > MaxFileSize {
		return nil, allowlist.ErrorList{{File: file, Msg: fmt.Sprintf("file is larger than %d MiB; a recipe is a short hand-written file", MaxFileSize>>20)}}
	}
	root, err := decode(data)
	var second *secondDoc
	if errors.As(err, &second) {
		return nil, allowlist.ErrorList{{File: file, Line: second.line, Col: second.col, Msg: "a second YAML document (after \"---\"); a recipe is one document"}}
	}
	if err != nil {
		// The allowlist parser words YAML errors with their line; the
		// recipe's are the same errors in the same file.
		_, perr := allowlist.ParseEmbedded(file, data, ownKeys())
		if perr == nil {
			perr = allowlist.ErrorList{{File: file, Msg: "not valid YAML: " + err.Error()}}
		}
		return nil, perr
	}
	p := &parser{file: file, r: &Recipe{File: file}}
	if root == nil {
		p.errs = append(p.errs, &allowlist.Error{File: file, Line: 1, Col: 1, Msg: "file is empty; start it with `version: 1`"})
		return nil, p.errs
	}
	p.recipe(root, want)
	p.policy(root, data)
	if len(p.errs) > 0 {
		slices.SortStableFunc(p.errs, func(a, b *allowlist.Error) int {
			return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
		})
		// A node that aliases make part of a list many times is reported
		// once.
		return nil, slices.CompactFunc(p.errs, func(a, b *allowlist.Error) bool { return *a == *b })
	}
	p.r.Sum = sum(p.r.Install)
	return p.r, nil
}

// secondDoc is where a second YAML document begins.
type secondDoc struct{ line, col int }

func (e *secondDoc) Error() string { return "a second YAML document" }

// decode returns the root node of data's one YAML document, nil for an
// empty file, or an error for anything else.
func decode(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &secondDoc{extra.Line, extra.Column}
	} else if !errors.Is(err, io.EOF) {
		return nil, err
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

// ownKeys are the recipe's keys that are not the allowlist's: what
// allowlist.ParseEmbedded is told belong to the recipe.
func ownKeys() []string {
	var out []string
	for _, k := range keys {
		if !slices.Contains(allowlist.Keys(), k) {
			out = append(out, k)
		}
	}
	return out
}

type parser struct {
	file string
	r    *Recipe
	errs allowlist.ErrorList
	// env holds the nodes of env's names, for the check against the
	// credentials' variables.
	env map[string]*yaml.Node
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	p.errs = append(p.errs, &allowlist.Error{File: p.file, Line: n.Line, Col: n.Column, Msg: fmt.Sprintf(format, args...)})
}

// mapping walks a mapping node, reporting duplicate and unknown keys, and
// calls fn for each known key with its value.
func (p *parser) mapping(where string, n *yaml.Node, known []string, fn func(key string, k, v *yaml.Node)) {
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := yamlnode.Deref(n.Content[i]), yamlnode.Deref(n.Content[i+1])
		if k == nil || v == nil {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			p.errorf(k, "%skeys must be plain words", prefix(where))
			continue
		}
		name := k.Value
		if first, dup := seen[name]; dup {
			p.errorf(k, "%skey %q appears twice (first at line %d); keep one", prefix(where), name, first.Line)
			continue
		}
		seen[name] = k
		if where == "" && !slices.Contains(known, name) && slices.Contains(allowlist.Keys(), name) {
			p.errorf(k, "%s is an allowlist key that a recipe does not take: a recipe adds allow rules and credentials (allow:, credentials:) to the bottle's allowlist and nothing else; put %s in your allowlist.yaml", name, name)
			continue
		}
		if !slices.Contains(known, name) {
			hint := ""
			if s := yamlnode.Closest(name, known); s != "" {
				hint = fmt.Sprintf("did you mean %q? ", s)
			}
			p.errorf(k, "%sunknown key %q; %sknown keys are %s", prefix(where), name, hint, strings.Join(known, ", "))
			continue
		}
		fn(name, k, v)
	}
}

func prefix(where string) string {
	if where == "" {
		return ""
	}
	return where + ": "
}

func (p *parser) recipe(root *yaml.Node, want string) {
	root = yamlnode.Deref(root)
	if root.Kind != yaml.MappingNode {
		p.errorf(root, "a recipe must be a mapping with `version: 1`, `name:` and `command:`; found %s", yamlnode.KindName(root))
		return
	}
	seen := map[string]bool{}
	p.mapping("", root, keys, func(key string, k, v *yaml.Node) {
		seen[key] = true
		switch key {
		case "version":
			if v.Kind != yaml.ScalarNode || v.Value != "1" || (v.Tag != "!!int" && v.Tag != "!!str") {
				p.errorf(v, "version %s is not supported; use `version: 1`", describe(v))
			}
		case "name":
			s, ok := p.str("name", v)
			if !ok {
				return
			}
			if err := ValidName(s); err != nil {
				p.errorf(v, "name: %v", err)
				return
			}
			if want != "" && s != want {
				p.errorf(v, "name %q is not the file's name %q; a recipe found by name must have that name: write `name: %s` or rename the file %s.yaml", s, want, want, s)
				return
			}
			p.r.Name = s
		case "description":
			if s, ok := p.str("description", v); ok {
				p.r.Description = s
			}
		case "install":
			p.install(v)
		case "command":
			p.r.Command = p.words("command", v, true, "[claude, --verbose]")
		case "unattended":
			p.r.Unattended = p.words("unattended", v, false, "[--dangerously-skip-permissions]")
		case "env":
			p.envs(v)
		case "instructions":
			p.r.Instructions = p.path("instructions", v)
		case "skills":
			p.r.Skills = p.path("skills", v)
		case "files":
			p.files(v)
		}
	})
	for _, k := range []string{"version", "name", "command"} {
		if !seen[k] {
			usage := map[string]string{
				"version": "`version: 1`",
				"name":    "`name: NAME`, the file's name without .yaml",
				"command": "`command: [CLI]`, the agent's command line",
			}[k]
			p.errorf(root, "missing %s: a recipe needs %s", k, usage)
		}
	}
}

// str reads a non-empty single-line string.
func (p *parser) str(key string, v *yaml.Node) (string, bool) {
	if v.Kind != yaml.ScalarNode || v.Tag != "!!str" || v.Value == "" {
		p.errorf(v, "%s must be a non-empty string; found %s", key, describe(v))
		return "", false
	}
	if strings.ContainsAny(v.Value, "\r\n\x00") {
		p.errorf(v, "%s must be one line", key)
		return "", false
	}
	return v.Value, true
}

// words reads a list of non-empty strings; with need, the list may not be
// empty. example is a list that would do, for the message.
func (p *parser) words(key string, v *yaml.Node, need bool, example string) []string {
	if v.Kind == yaml.ScalarNode && v.Tag == "!!null" && !need {
		return nil
	}
	if v.Kind != yaml.SequenceNode {
		p.errorf(v, "%s must be a list, e.g. %s; found %s", key, example, describe(v))
		return nil
	}
	if need && len(v.Content) == 0 {
		p.errorf(v, "%s is empty; it must name the agent CLI, e.g. [claude]", key)
		return nil
	}
	var out []string
	for i, w := range v.Content {
		w = yamlnode.Deref(w)
		if s, ok := p.scalar(fmt.Sprintf("%s[%d]", key, i), w); ok {
			out = append(out, s)
		}
	}
	return out
}

// scalar reads one non-empty word of a list: a string, or a number or
// boolean as written (`[--max-turns, 20]`).
func (p *parser) scalar(where string, w *yaml.Node) (string, bool) {
	if w.Kind != yaml.ScalarNode || w.Tag == "!!null" || w.Value == "" {
		p.errorf(w, "%s must be a non-empty string; found %s", where, describe(w))
		return "", false
	}
	if strings.ContainsAny(w.Value, "\r\n\x00") {
		p.errorf(w, "%s must be one line", where)
		return "", false
	}
	return w.Value, true
}

func (p *parser) install(v *yaml.Node) {
	if v.Kind != yaml.MappingNode {
		p.errorf(v, "install must be a mapping such as {npm: [\"@openai/codex\"], run: [\"codex --version\"]}; found %s", describe(v))
		return
	}
	p.mapping("install", v, installKeys, func(key string, k, v *yaml.Node) {
		example := map[string]string{"npm": `["@openai/codex", "pkg@1.2.3"]`, "run": `["codex --version"] (shell lines)`}[key]
		words := p.words("install."+key, v, false, example)
		switch key {
		case "npm":
			for i, w := range words {
				// Each is an argument of `npm install -g`: one that began
				// with '-' would be an option.
				if strings.HasPrefix(w, "-") || strings.ContainsAny(w, " \t") {
					p.errorf(v.Content[i], "install.npm[%d] %q is not a package; write a package name such as \"@openai/codex\" or \"pkg@1.2.3\"", i, w)
					continue
				}
				p.r.Install.NPM = append(p.r.Install.NPM, w)
			}
		case "run":
			p.r.Install.Run = words
		}
	})
}

func (p *parser) envs(v *yaml.Node) {
	if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		return
	}
	if v.Kind != yaml.MappingNode {
		p.errorf(v, "env must be a mapping of NAME: \"value\"; found %s", describe(v))
		return
	}
	p.env = map[string]*yaml.Node{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := yamlnode.Deref(v.Content[i]), yamlnode.Deref(v.Content[i+1])
		name := k.Value
		switch {
		case k.Kind != yaml.ScalarNode || !envNameRE.MatchString(name):
			p.errorf(k, "env: %q is not a variable name; use letters, digits and '_', not starting with a digit", name)
			continue
		case p.env[name] != nil:
			p.errorf(k, "env: %s appears twice (first at line %d); keep one", name, p.env[name].Line)
			continue
		case slices.Contains(reservedEnv, name):
			p.errorf(k, "env: %s is bottle's own: it points the agent at the proxy, the bottle CA or the supervise MCP server; drop it from the recipe", name)
			continue
		}
		p.env[name] = k
		switch {
		case val.Kind != yaml.ScalarNode || val.Tag == "!!null":
			p.errorf(val, "env: %s must have a value, e.g. %s: \"1\"; found %s", name, name, describe(val))
		case !utf8.ValidString(val.Value) || strings.ContainsAny(val.Value, "\r\n\x00"):
			p.errorf(val, "env: the value of %s must be one line of UTF-8 text", name)
		default:
			p.r.Env = append(p.r.Env, name+"="+val.Value)
		}
	}
}

// path reads a path in the agent: absolute, or "~/" for the agent user's
// home, and never climbing with "..".
func (p *parser) path(where string, v *yaml.Node) string {
	s, ok := p.str(where, v)
	if !ok {
		return ""
	}
	if err := checkPath(s); err != nil {
		p.errorf(v, "%s %q: %v", where, s, err)
		return ""
	}
	return s
}

func checkPath(s string) error {
	rest, home := strings.CutPrefix(s, "~/")
	if !home && !strings.HasPrefix(s, "/") {
		return errors.New(`must start with "~/" (the agent user's home) or "/"`)
	}
	rest = strings.Trim(rest, "/")
	if rest == "" {
		return errors.New("names a home or the root, not a file or directory below it")
	}
	for _, seg := range strings.Split(rest, "/") {
		if seg == ".." {
			return errors.New(`may not hold ".."`)
		}
	}
	return nil
}

func (p *parser) files(v *yaml.Node) {
	if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		return
	}
	if v.Kind != yaml.SequenceNode {
		p.errorf(v, "files must be a list of {path: ~/..., content: ...}; found %s", describe(v))
		return
	}
	seen := map[string]*yaml.Node{}
	for i, item := range v.Content {
		item = yamlnode.Deref(item)
		where := fmt.Sprintf("files[%d]", i)
		if item.Kind != yaml.MappingNode {
			p.errorf(item, "%s must be a mapping of path and content; found %s", where, describe(item))
			continue
		}
		var f File
		var pathNode *yaml.Node
		hasContent := false
		p.mapping(where, item, fileKeys, func(key string, k, v *yaml.Node) {
			switch key {
			case "path":
				pathNode = v
				f.Path = p.path(where+".path", v)
			case "content":
				hasContent = true
				if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
					p.errorf(v, "%s.content must be a string (the file's text); found %s", where, describe(v))
					return
				}
				if !utf8.ValidString(v.Value) {
					p.errorf(v, "%s.content must be UTF-8 text", where)
					return
				}
				f.Content = v.Value
			}
		})
		switch {
		case pathNode == nil:
			p.errorf(item, "%s: missing path", where)
		case !hasContent:
			p.errorf(item, "%s: missing content", where)
		case f.Path == "":
		case seen[f.Path] != nil:
			p.errorf(pathNode, "%s.path %q is written twice (first at line %d); keep one", where, f.Path, seen[f.Path].Line)
		default:
			seen[f.Path] = pathNode
			p.r.Files = append(p.r.Files, f)
		}
	}
}

// policy checks the recipe's allow and credentials by parsing the recipe
// file itself as an allowlist whose other keys are the recipe's own, so
// that an error in a rule carries its line in the recipe, and makes
// Recipe.Policy of them.
func (p *parser) policy(root *yaml.Node, data []byte) {
	root = yamlnode.Deref(root)
	if root.Kind != yaml.MappingNode {
		return
	}
	// spans are where each policy key's value is written in the file: the
	// allowlist parser's errors are kept when they fall inside one. The
	// others (version, an unknown key) are the recipe's own to report.
	type pos struct{ line, col int }
	type span struct{ from, to pos }
	var spans []span
	var sections []*yaml.Node // key, value, key, value
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := yamlnode.Deref(root.Content[i]), yamlnode.Deref(root.Content[i+1])
		if k == nil || v == nil || !slices.Contains(policyKeys, k.Value) {
			continue
		}
		end := pos{1 << 30, 0}
		if i+2 < len(root.Content) {
			end = pos{root.Content[i+2].Line, root.Content[i+2].Column}
		}
		spans = append(spans, span{pos{v.Line, v.Column}, end})
		if (v.Kind == yaml.ScalarNode && v.Tag == "!!null") || (v.Kind == yaml.SequenceNode && len(v.Content) == 0) {
			continue // "allow:" with nothing under it, or []
		}
		sections = append(sections, k, v)
	}
	if len(spans) == 0 {
		return
	}
	before := func(a, b pos) bool { return a.line < b.line || (a.line == b.line && a.col < b.col) }
	pol, err := allowlist.ParseEmbedded(p.file, data, ownKeys())
	var el allowlist.ErrorList
	switch {
	case errors.As(err, &el):
		for _, e := range el {
			at := pos{e.Line, e.Col}
			if slices.ContainsFunc(spans, func(s span) bool { return !before(at, s.from) && before(at, s.to) }) {
				p.errs = append(p.errs, e)
			}
		}
		return
	case err != nil:
		p.errs = append(p.errs, &allowlist.Error{File: p.file, Msg: err.Error()})
		return
	}
	p.credentialEnv(pol)
	if len(sections) == 0 {
		return // neither has anything in it
	}
	// The Policy is made only from rules that parsed: their aliases can
	// stand for nothing but rules, lists of words and words.
	doc := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	doc.Content = append(doc.Content, scalar("version", "!!str"), scalar("1", "!!int"))
	budget := maxPolicyNodes
	for i := 0; i < len(sections); i += 2 {
		doc.Content = append(doc.Content, scalar(sections[i].Value, "!!str"), clean(sections[i+1], &budget))
	}
	if budget < 0 {
		p.errorf(sections[1], "allow and credentials stand for more than %d YAML nodes once their aliases are followed; write the rules out instead of repeating aliases", maxPolicyNodes)
		return
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		p.errs = append(p.errs, &allowlist.Error{File: p.file, Msg: "making the recipe's allowlist: " + err.Error()})
		return
	}
	enc.Close()
	p.r.Policy = buf.Bytes()
}

// credentialEnv refuses an env: that sets a variable a credential of the
// recipe fills: the agent gets the credential's placeholder there, and the
// variable a source reads holds the real value.
func (p *parser) credentialEnv(pol *allowlist.Policy) {
	for _, c := range pol.Credentials() {
		vars := []string{c.AgentEnv}
		for _, s := range []allowlist.Source{c.Source, c.AccessKeyID, c.SecretAccessKey, c.SessionToken} {
			if s.Scheme == "env" {
				vars = append(vars, s.Ref)
			}
		}
		for i, name := range vars {
			if k := p.env[name]; name != "" && k != nil && !slices.Contains(vars[:i], name) {
				p.errorf(k, "env: %s is credential %s's (its placeholder, or where its real value is read); drop it from env", name, c.Name)
			}
		}
	}
}

func scalar(value, tag string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: value}
}

// maxPolicyNodes bounds the Policy's size: aliases can make a short file
// stand for a huge tree, and a recipe's rules are a handful.
const maxPolicyNodes = 100_000

// clean copies n with aliases resolved and comments, anchors and positions
// dropped: the recipe's Policy is the rules, not how the file wrote them.
// Each node copied takes one from *budget; below zero, it stops copying.
func clean(n *yaml.Node, budget *int) *yaml.Node {
	n = yamlnode.Deref(n)
	*budget--
	if n == nil || *budget < 0 {
		return scalar("", "!!null")
	}
	out := &yaml.Node{Kind: n.Kind, Tag: n.Tag, Value: n.Value}
	// A scalar keeps how it was quoted only when that matters to its
	// type: the encoder quotes what needs it.
	if n.Kind == yaml.ScalarNode && n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
		out.Style = 0
	}
	for _, c := range n.Content {
		out.Content = append(out.Content, clean(c, budget))
	}
	return out
}

// sum hashes the install step: the agent image's tag changes when it does
// and only then.
func sum(in Install) string {
	b, _ := json.Marshal(struct {
		NPM []string `json:"npm"`
		Run []string `json:"run"`
	}{in.NPM, in.Run})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])[:16]
}

// describe names a node's value for a message: a scalar as written, quoted,
// anything else by its kind.
func describe(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		v := n.Value
		if len(v) > 40 {
			v = v[:40] + "…"
		}
		return fmt.Sprintf("%q", v)
	}
	return yamlnode.KindName(n)
}

// nameOf is the recipe name a file's path stands for: its base without
// .yaml or .yml.
func nameOf(path string) string {
	b := filepath.Base(path)
	for _, ext := range []string{".yaml", ".yml"} {
		if s, ok := strings.CutSuffix(b, ext); ok {
			return s
		}
	}
	return b
}
