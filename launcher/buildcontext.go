package launcher

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
)

// hashContext hashes what a build of dir would send the engine: every
// file's path, executable bit and content, every symlink's target, every
// directory — less what dir/.dockerignore excludes, or, without one, less
// .git (which changes with every commit, and rarely goes into an image).
func hashContext(dir string) (string, error) {
	ign, err := readDockerignore(dir)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if ign.excludes(rel) {
			if d.IsDir() && !ign.hasExceptions() {
				return fs.SkipDir
			}
			return nil
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "link %q %q\n", rel, target)
		case d.IsDir():
			fmt.Fprintf(h, "dir %q\n", rel)
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "file %q %v %d\n", rel, info.Mode().Perm()&0o111 != 0, info.Size())
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// dockerignore is a build context's .dockerignore, as the engines read
// it: one pattern a line (# comments), Go's filepath.Match syntax plus
// "**" for any number of directories, "!" for an exception; a pattern
// that matches a directory excludes what is in it; the last pattern that
// matches a path decides.
type dockerignore struct {
	rules []ignoreRule
}

type ignoreRule struct {
	re        *regexp.Regexp
	exception bool
}

// defaultIgnore is what a context without .dockerignore leaves out of
// the hash.
var defaultIgnore = dockerignore{rules: []ignoreRule{{re: regexp.MustCompile(`^\.git$`)}}}

func readDockerignore(dir string) (dockerignore, error) {
	data, err := os.ReadFile(filepath.Join(dir, ".dockerignore"))
	if errors.Is(err, fs.ErrNotExist) {
		return defaultIgnore, nil
	}
	if err != nil {
		return dockerignore{}, err
	}
	return parseDockerignore(data)
}

func parseDockerignore(data []byte) (dockerignore, error) {
	var d dockerignore
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r := ignoreRule{}
		if rest, ok := strings.CutPrefix(line, "!"); ok {
			r.exception, line = true, strings.TrimSpace(rest)
		}
		line = strings.TrimPrefix(path.Clean(filepath.ToSlash(line)), "/")
		re, err := globRegexp(line)
		if err != nil {
			return d, fmt.Errorf(".dockerignore:%d: %q: %v", n, line, err)
		}
		r.re = re
		d.rules = append(d.rules, r)
	}
	return d, sc.Err()
}

// globRegexp turns a .dockerignore pattern into a regular expression over
// slash-separated paths.
func globRegexp(pat string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(pat); i++ {
		switch c := pat[i]; c {
		case '*':
			if i+1 < len(pat) && pat[i+1] == '*' {
				i++
				if i+1 < len(pat) && pat[i+1] == '/' {
					i++
					b.WriteString("(.*/)?") // **/ : any number of directories, none included
				} else {
					b.WriteString(".*")
				}
			} else {
				b.WriteString("[^/]*")
			}
		case '?':
			b.WriteString("[^/]")
		case '[':
			end := strings.IndexByte(pat[i+1:], ']')
			if end < 0 {
				return nil, errors.New("unterminated [")
			}
			class := pat[i+1 : i+1+end]
			if strings.HasPrefix(class, "!") {
				class = "^" + class[1:]
			}
			b.WriteString("[" + class + "]")
			i += end + 1
		case '\\':
			if i+1 < len(pat) {
				i++
				b.WriteString(regexp.QuoteMeta(string(pat[i])))
			}
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// excludes reports whether rel (slash-separated) is left out of the
// context: the last rule that matches it, or one of its parents, decides.
func (d dockerignore) excludes(rel string) bool {
	out := false
	for _, r := range d.rules {
		if r.matches(rel) {
			out = !r.exception
		}
	}
	return out
}

func (r ignoreRule) matches(rel string) bool {
	for p := rel; ; {
		if r.re.MatchString(p) {
			return true
		}
		i := strings.LastIndexByte(p, '/')
		if i < 0 {
			return false
		}
		p = p[:i]
	}
}

// hasExceptions says whether an excluded directory may still hold
// something included, so it must be walked.
func (d dockerignore) hasExceptions() bool {
	for _, r := range d.rules {
		if r.exception {
			return true
		}
	}
	return false
}
