// Command fakeagent stands in for a coding agent CLI in bottle's
// end-to-end tests, doing what one does in the few ways a bottle must get
// right: it takes its API key from the variable its documentation names
// (fakemodel.KeyVar), reads its instructions file and lists its skills
// directory under its user's home, calls its model API over HTTPS through
// the proxy the environment names and prints the streamed answer as it
// arrives, writes a file in its working directory, and exits with the
// status its prompt asks for ("... exit 3"). Without a prompt it asks for
// one on its terminal, as an agent CLI opened interactively does. It refuses to run without
// --unattended, the flag a recipe puts after its command. The e2e test
// packages it as an npm package and installs it through a recipe. Test
// code only; never shipped.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"bottle.dev/bottle/e2e/fakemodel"
)

const version = "fakeagent 1.0.0"

// Exit statuses of its own, apart from the one the prompt asks for.
const (
	exitUsage  = 64 // a flag it does not know, or no --unattended
	exitConfig = 78 // no key, no home
	exitAPI    = 69 // the model API failed or refused
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}

// askedStatus is the exit status a prompt asks for.
var askedStatus = regexp.MustCompile(`\bexit (?:with )?(?:status )?(\d{1,3})\b`)

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("fakeagent", flag.ContinueOnError)
	fl.SetOutput(stderr)
	prompt := fl.String("p", "", "the prompt: run headless, print the answer and exit")
	unattended := fl.Bool("unattended", false, "run without asking for permission (the bottle is the sandbox)")
	showVersion := fl.Bool("version", false, "print the version and exit")
	if err := fl.Parse(args); err != nil {
		return exitUsage
	}
	if *showVersion {
		fmt.Fprintln(stdout, version)
		return 0
	}
	if !*unattended {
		fmt.Fprintln(stderr, "fakeagent: refusing to run without --unattended")
		return exitUsage
	}
	if *prompt == "" && fl.NArg() > 0 {
		*prompt = strings.Join(fl.Args(), " ")
	}
	if *prompt == "" {
		// Interactive, as an agent CLI opened without a task: it asks for
		// one, and answers it.
		fmt.Fprint(stdout, "fakeagent> ")
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if *prompt = strings.TrimSpace(line); *prompt == "" {
			fmt.Fprintf(stderr, "fakeagent: no prompt (%v)\n", err)
			return exitUsage
		}
	}
	fmt.Fprintf(stdout, "fakeagent: prompt %q\n", *prompt)

	key := getenv(fakemodel.KeyVar)
	if key == "" {
		fmt.Fprintf(stderr, "fakeagent: %s is not set\n", fakemodel.KeyVar)
		return exitConfig
	}
	kind := "not a bottle placeholder"
	if strings.HasPrefix(key, fakemodel.PlaceholderPrefix) {
		kind = "a bottle placeholder"
	}
	// Never the key itself: only what it is.
	fmt.Fprintf(stdout, "fakeagent: key from %s: %d bytes, %s\n", fakemodel.KeyVar, len(key), kind)

	// $HOME, as the agent CLIs find their files (Node's os.homedir()).
	home := getenv("HOME")
	if home == "" {
		fmt.Fprintln(stderr, "fakeagent: HOME is not set")
		return exitConfig
	}
	req := fakemodel.Request{Prompt: *prompt, Hold: getenv(fakemodel.HoldVar) == "1"}
	instr := filepath.Join(home, fakemodel.InstructionsFile)
	if b, err := os.ReadFile(instr); err != nil {
		fmt.Fprintf(stdout, "fakeagent: no instructions: %v\n", err)
	} else {
		req.Instructions = string(b)
		fmt.Fprintf(stdout, "fakeagent: instructions %s: %q\n", instr, b)
	}
	skills := filepath.Join(home, fakemodel.SkillsDir)
	err := filepath.WalkDir(skills, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(skills, p)
		req.Skills = append(req.Skills, rel)
		fmt.Fprintf(stdout, "fakeagent: skill %s\n", rel)
		return nil
	})
	if err != nil {
		fmt.Fprintf(stdout, "fakeagent: no skills: %v\n", err)
	}

	base := getenv(fakemodel.BaseURLVar)
	if base == "" {
		base = "https://model.sim.test/fakemodel/v1"
	}
	answer, err := ask(ctx, strings.TrimSuffix(base, "/")+"/"+filepath.Base(fakemodel.Path), key, req, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "fakeagent: %v\n", err)
		return exitAPI
	}
	wd, _ := os.Getwd()
	out := filepath.Join(wd, fakemodel.OutputFile)
	if err := os.WriteFile(out, []byte(answer), 0o644); err != nil {
		fmt.Fprintf(stderr, "fakeagent: %v\n", err)
		return exitConfig
	}
	fmt.Fprintf(stdout, "fakeagent: wrote %s\n", out)

	status := 0
	if m := askedStatus.FindStringSubmatch(*prompt); m != nil {
		status, _ = strconv.Atoi(m[1])
	}
	fmt.Fprintf(stdout, "fakeagent: exit %d\n", status)
	return status
}

// ask POSTs req to url and prints each event of the answer the moment it
// arrives; it returns the whole answer, a line per event. The default
// transport goes through HTTPS_PROXY and trusts SSL_CERT_FILE, as the
// bottle sets them.
func ask(ctx context.Context, url, key string, req fakemodel.Request, stdout io.Writer) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	body, _ := json.Marshal(req)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Accept", "text/event-stream")
	hr.Header.Set(fakemodel.KeyHeader, key)
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		return "", fmt.Errorf("the model API: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return "", fmt.Errorf("the model API at %s answered %s: %s", url, resp.Status, bytes.TrimSpace(msg))
	}
	var answer strings.Builder
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if data == "[DONE]" {
			return answer.String(), nil
		}
		fmt.Fprintf(stdout, "%s\n", data)
		answer.WriteString(data + "\n")
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("reading the model's answer: %w", err)
	}
	return "", errors.New("the model's answer ended before [DONE]")
}
