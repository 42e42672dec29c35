package version

import (
	"encoding/json"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"bottle.dev/bottle/cmd/bottle/internal/cmdtest"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
)

func TestVersion(t *testing.T) {
	fx := cmdtest.New(t)
	r := fx.Run(NewCmd(fx.F, nil), nil)
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, "bottle v0.0.0-test ") || !strings.HasSuffix(r.Stdout, " "+runtime.GOOS+"/"+runtime.GOARCH+"\n") {
		t.Errorf("version: %+v", r)
	}
	r = fx.Run(NewCmd(fx.F, nil), nil, "--json")
	var v Info
	if err := json.Unmarshal([]byte(r.Stdout), &v); err != nil || v.Version != "v0.0.0-test" || v.Go != runtime.Version() {
		t.Errorf("version --json: %v %+v", err, r)
	}
	if r = fx.Run(NewCmd(fx.F, nil), nil, "x"); r.Code != cmdutil.ExitUsage {
		t.Errorf("an argument: %+v", r)
	}
}

func TestInfo(t *testing.T) {
	bi := func(version string, settings ...string) func() (*debug.BuildInfo, bool) {
		return func() (*debug.BuildInfo, bool) {
			b := &debug.BuildInfo{Main: debug.Module{Version: version}}
			for i := 0; i+1 < len(settings); i += 2 {
				b.Settings = append(b.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
			}
			return b, true
		}
	}
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{Build: cmdutil.Build{Version: "v1.2.3"}, BuildInfo: bi("v9")}, "bottle v1.2.3 "},
		{Options{BuildInfo: bi("v1.0.0")}, "bottle v1.0.0 "},
		{Options{BuildInfo: bi("(devel)", "vcs.revision", "0123456789abcdef", "vcs.modified", "true")}, "bottle devel (0123456789ab, modified) "},
		{Options{BuildInfo: bi("", "vcs.revision", "abc")}, "bottle devel (abc) "},
		{Options{BuildInfo: func() (*debug.BuildInfo, bool) { return nil, false }}, "bottle devel "},
	} {
		ios, out, _ := cmdutil.Test("")
		tc.opts.IO = ios
		if err := run(&tc.opts); err != nil || !strings.HasPrefix(out.String(), tc.want) {
			t.Errorf("%q: %v; want prefix %q", out, err, tc.want)
		}
	}
}
