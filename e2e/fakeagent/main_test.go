package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bottle.dev/bottle/e2e/fakemodel"
)

// TestRun: the fake agent refuses to run without --unattended or a key;
// with them it sends what it read (the prompt, its instructions, its
// skills) with its key, prints the answer, writes it in its working
// directory and exits with the status the prompt asked for.
func TestRun(t *testing.T) {
	var got fakemodel.Request
	var gotKey string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != fakemodel.Path {
			http.NotFound(w, r)
			return
		}
		gotKey = r.Header.Get(fakemodel.KeyHeader)
		json.NewDecoder(r.Body).Decode(&got)
		w.Header().Set("Content-Type", "text/event-stream")
		for _, c := range fakemodel.Chunks(got) {
			fmt.Fprintf(w, "data: %s\n\n", c)
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
	}))
	defer srv.Close()

	home, wd := t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(home, fakemodel.SkillsDir, "sub"), 0o755)
	os.WriteFile(filepath.Join(home, fakemodel.InstructionsFile), []byte("be brief\n"), 0o644)
	os.WriteFile(filepath.Join(home, fakemodel.SkillsDir, "sub", "b.md"), nil, 0o644)
	os.WriteFile(filepath.Join(home, fakemodel.SkillsDir, "a.md"), nil, 0o644)
	t.Chdir(wd)
	env := map[string]string{"HOME": home, fakemodel.KeyVar: "k-1", fakemodel.BaseURLVar: srv.URL + "/fakemodel/v1/"}
	getenv := func(k string) string { return env[k] }

	var out, errs bytes.Buffer
	if code := run(context.Background(), []string{"-p", "hi"}, getenv, strings.NewReader(""), &out, &errs); code != exitUsage || !strings.Contains(errs.String(), "without --unattended") {
		t.Errorf("without --unattended: %d %s", code, errs.String())
	}
	delete(env, fakemodel.KeyVar)
	errs.Reset()
	if code := run(context.Background(), []string{"--unattended", "-p", "hi"}, getenv, strings.NewReader(""), &out, &errs); code != exitConfig || !strings.Contains(errs.String(), "FAKEAGENT_API_KEY is not set") {
		t.Errorf("without a key: %d %s", code, errs.String())
	}
	env[fakemodel.KeyVar] = "k-1"

	out.Reset()
	code := run(context.Background(), []string{"--unattended", "-p", "fix it, then exit 3"}, getenv, strings.NewReader(""), &out, &errs)
	if code != 3 {
		t.Errorf("exit %d; want 3\n%s%s", code, out.String(), errs.String())
	}
	if gotKey != "k-1" || got.Prompt != "fix it, then exit 3" || got.Instructions != "be brief\n" || strings.Join(got.Skills, ",") != "a.md,sub/b.md" || got.Hold {
		t.Errorf("the API got key %q and %+v", gotKey, got)
	}
	answer := strings.Join(fakemodel.Chunks(got), "\n") + "\n"
	for _, want := range []string{
		"fakeagent: key from FAKEAGENT_API_KEY: 3 bytes, not a bottle placeholder\n",
		`fakeagent: instructions ` + filepath.Join(home, fakemodel.InstructionsFile) + ": \"be brief\\n\"\n",
		"fakeagent: skill a.md\nfakeagent: skill sub/b.md\n",
		answer,
		"fakeagent: exit 3\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if b, _ := os.ReadFile(filepath.Join(wd, fakemodel.OutputFile)); string(b) != answer {
		t.Errorf("%s: %q", fakemodel.OutputFile, b)
	}
	if strings.Contains(out.String(), "k-1") {
		t.Error("the agent printed its key")
	}

	// Interactive: no prompt, so it asks for one and answers it.
	out.Reset()
	if code := run(context.Background(), []string{"--unattended"}, getenv, strings.NewReader("say hi, then exit 4\n"), &out, &errs); code != 4 ||
		!strings.HasPrefix(out.String(), "fakeagent> fakeagent: prompt \"say hi, then exit 4\"\n") || got.Prompt != "say hi, then exit 4" {
		t.Errorf("interactive: exit %d, the API got %+v\n%s", code, got, out.String())
	}
	errs.Reset()
	if code := run(context.Background(), []string{"--unattended"}, getenv, strings.NewReader(""), &out, &errs); code != exitUsage || !strings.Contains(errs.String(), "no prompt") {
		t.Errorf("interactive, no answer: exit %d %s", code, errs.String())
	}
}
