package system

import (
	"os"
	"runtime/debug"
	"testing"
)

func TestLoggedVersion(t *testing.T) {
	for logs, want := range map[string]string{
		`{"instance":"dapr-operator-6fc59f5b79-5gxt8","level":"info","msg":"Starting Dapr Operator -- version 1.17.5 -- commit ","scope":"dapr.operator"}`: "1.17.5",
		"time=... level=info msg=\"Starting Dapr Sentry certificate authority -- version 1.18.2 -- commit 3a1b\"\nmore":                                    "1.18.2",
		`{"msg":"Starting Dapr Scheduler Service -- version 1.19.0-rc.1 -- commit abc"}`:                                                                   "1.19.0-rc.1",
		`{"app_id":"order","level":"info","msg":"Starting Dapr Runtime -- version 1.18.2 -- commit ","scope":"dapr.runtime"}`:                              "1.18.2",
		`{"msg":"Starting the operator"}`: "",
		"":                                "",
	} {
		if got := LoggedDaprVersion(logs); got != want {
			t.Errorf("LoggedDaprVersion(%q) = %q, want %q", logs, got, want)
		}
	}
}

func TestDaprModuleRelease(t *testing.T) {
	dapr := func(version string, replace *debug.Module) *debug.Module {
		return &debug.Module{Path: "github.com/dapr/dapr", Version: version, Replace: replace}
	}
	other := &debug.Module{Path: "github.com/dapr/components-contrib", Version: "v1.18.3"}
	for _, c := range []struct {
		name string
		info debug.BuildInfo
		want string
	}{
		{"a dependency (tools/daprd's builds)", debug.BuildInfo{Main: debug.Module{Path: "daprshop/tools/daprd"}, Deps: []*debug.Module{other, dapr("v1.17.5", nil)}}, "v1.17.5"},
		{"the main module at a release", debug.BuildInfo{Main: *dapr("v1.19.0-rc.1", nil)}, "v1.19.0-rc.1"},
		{"replaced by another release", debug.BuildInfo{Deps: []*debug.Module{dapr("v1.18.2", dapr("v1.18.1", nil))}}, "v1.18.1"},
		{"replaced by a local copy", debug.BuildInfo{Deps: []*debug.Module{dapr("v1.18.2", &debug.Module{Path: "../dapr"})}}, ""},
		{"built inside a checkout", debug.BuildInfo{Main: *dapr("(devel)", nil)}, ""},
		{"a commit, not a release", debug.BuildInfo{Deps: []*debug.Module{dapr("v1.18.3-0.20260720132056-79042da5fe61", nil)}}, ""},
		{"no Dapr in it", debug.BuildInfo{Deps: []*debug.Module{other}}, ""},
	} {
		if got := daprModuleRelease(&c.info); got != c.want {
			t.Errorf("%s: daprModuleRelease = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestBuiltDaprVersionReadsABinary(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The test binary is a Go binary without Dapr in it.
	if got, err := BuiltDaprVersion(self); got != "" || err != nil {
		t.Errorf("BuiltDaprVersion(the test binary) = %q, %v; want \"\", nil", got, err)
	}
	if _, err := BuiltDaprVersion("version_test.go"); err == nil {
		t.Error("BuiltDaprVersion(a source file): no error")
	}
}
