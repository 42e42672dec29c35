package launcher

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// CheckEnv validates K=V entries for a container: a name the engines accept
// and a value an env file can carry. Errors name the variable, never its
// value.
func CheckEnv(env []string) error {
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		switch {
		case !ok:
			return fmt.Errorf("environment entry %q has no '='; write NAME=VALUE", k)
		case k == "" || strings.ContainsAny(k, " \t\r\n#"):
			return fmt.Errorf("environment variable name %q is not valid", k)
		case !utf8.ValidString(kv):
			return fmt.Errorf("environment variable %s is not valid UTF-8, which the engine's env file requires", k)
		case strings.ContainsAny(v, "\r\n\x00"):
			return fmt.Errorf("the value of %s has a line break or NUL, which the engine's env file cannot carry; put it in a file in the workspace instead", k)
		}
	}
	return nil
}

// WriteEnvFile writes env to a file in a new directory only the user can
// read (0700, file 0600) and returns its path and a function that removes
// both. The engines read it when the container is created: the values never
// appear on a command line.
func WriteEnvFile(env []string) (string, func(), error) {
	if err := CheckEnv(env); err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp("", "bottle-env-")
	if err != nil {
		return "", nil, err
	}
	done := func() { os.RemoveAll(dir) }
	p := filepath.Join(dir, "env")
	if err := os.WriteFile(p, []byte(strings.Join(env, "\n")+"\n"), 0o600); err != nil {
		done()
		return "", nil, err
	}
	return p, done, nil
}

var memoryRE = regexp.MustCompile(`^([1-9][0-9]*)([kmg])$`)

// ParseMemory reads a memory limit such as 512m or 4g (k, m or g; the unit
// is required, so "512" cannot mean 512 bytes by mistake).
func ParseMemory(s string) (string, error) {
	m := strings.ToLower(strings.TrimSpace(s))
	if !memoryRE.MatchString(m) {
		return "", fmt.Errorf("%q is not a size; write a whole number with k, m or g, e.g. 512m or 4g", s)
	}
	if n, _ := strconv.Atoi(memoryRE.FindStringSubmatch(m)[1]); m[len(m)-1] == 'k' && n < 8192 || m[len(m)-1] == 'm' && n < 8 {
		return "", fmt.Errorf("%q is too little memory for a container; give at least 8m", s)
	}
	return m, nil
}

// ParseCPUs reads a CPU limit such as 2 or 1.5.
func ParseCPUs(s string) (string, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || f <= 0 || f > 1024 {
		return "", fmt.Errorf("%q is not a number of CPUs; write e.g. 2 or 1.5", s)
	}
	return strconv.FormatFloat(f, 'f', -1, 64), nil
}

// ParsePids reads a process limit.
func ParsePids(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 16 {
		return 0, fmt.Errorf("%q is not a process limit; write a whole number of at least 16, e.g. 1024", s)
	}
	return n, nil
}
