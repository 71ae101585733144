package system

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/semver"

	"github.com/daprshop/daprshop/tests/harness/knobs"
	"github.com/daprshop/daprshop/tests/harness/repo"
	"github.com/daprshop/daprshop/tools/build"
)

// Env is where the suite finds what it runs.
type Env struct {
	Root    string // the repository
	RunFile string
	Daprd   string
	BinDir  string
	logDir  string
}

// LoadEnv resolves the binaries and files the system needs, failing the test
// with what to do when one is missing.
func LoadEnv(t testing.TB) Env {
	t.Helper()
	root, err := repo.Find()
	if err != nil {
		t.Fatal(err)
	}
	daprd, err := DaprdPath(root)
	if err != nil {
		t.Fatal(err)
	}
	return Env{Root: root, RunFile: filepath.Join(root, "deploy", "selfhosted", "dapr.yaml"), Daprd: daprd, BinDir: ServicesDir(root), logDir: logRoot(root)}
}

// Service returns the path of the built service binary name, failing the
// test when the services were not built (BuildServices).
func (e Env) Service(t testing.TB, name string) string {
	t.Helper()
	if e.BinDir == "" {
		t.Fatalf("%s is not set: run the suite through its TestMain, which builds the services", knobs.ServicesDir.Name)
	}
	return filepath.Join(e.BinDir, name)
}

// ServicesDir is the directory holding the services under test
// (knobs.ServicesDir, which BuildServices sets; a relative path is relative
// to the repository at root), or "" before they are built.
func ServicesDir(root string) string { return knobs.ServicesDir.Path(root, "") }

// logRoot is where process logs go (knobs.E2ELogs).
func logRoot(root string) string { return knobs.E2ELogs.Path(root, "") }

// Apps returns the apps of the run file.
func (e Env) Apps(t testing.TB) []repo.RunApp {
	t.Helper()
	apps, err := repo.ReadRunFile(e.RunFile)
	if err != nil {
		t.Fatalf("read run file: %v", err)
	}
	return apps
}

// App is the run file's app appID, failing the test if there is none.
func (e Env) App(t testing.TB, appID string) repo.RunApp {
	t.Helper()
	for _, a := range e.Apps(t) {
		if a.AppID == appID {
			return a
		}
	}
	t.Fatalf("no app %q in %s", appID, e.RunFile)
	return repo.RunApp{}
}

// LogDir returns a fresh directory for the logs of test t.
func (e Env) LogDir(t testing.TB) string {
	t.Helper()
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	dir := filepath.Join(e.logDir, name)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	return mkdirAll(t, dir)
}

// DaprdPath returns the daprd under test: $DAPRD (a relative path is
// relative to the repository, where make runs), or the build of
// $DAPR_VERSION (default: the pinned version) under out/dapr.
func DaprdPath(root string) (string, error) {
	if knobs.Daprd.Set() {
		return knobs.Daprd.Path(root, ""), nil
	}
	version, err := repo.DaprVersionOr(root, knobs.DaprVersion.Value())
	if err != nil {
		return "", err
	}
	p := repo.ReleaseDaprd(root, version)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("no daprd at %s: run `make daprd DAPR_VERSION=%s`, or set %s to a daprd binary", p, version, knobs.Daprd.Name)
	}
	return p, nil
}

// daprdVersionTimeout bounds `daprd --version`: a binary that hangs on it
// will not run a suite either.
const daprdVersionTimeout = 5 * time.Second

// CheckDaprd finds the daprd under test and asks it its version, so that a
// wrong path or a binary that cannot run is one error before anything
// starts, not a failure in every scenario. It returns the binary's path and
// the version it prints.
func CheckDaprd(root string) (path, version string, err error) {
	path, err = DaprdPath(root)
	if err != nil {
		return "", "", err
	}
	source := "the build of " + cmp.Or(knobs.DaprVersion.Value(), "the pinned version")
	if knobs.Daprd.Set() {
		source = knobs.Daprd.Name + "=" + knobs.Daprd.Value()
	}
	info, err := os.Stat(path)
	switch {
	case err != nil:
		return "", "", fmt.Errorf("daprd under test (%s): %w", source, err)
	case info.IsDir() || info.Mode()&0o111 == 0:
		return "", "", fmt.Errorf("daprd under test (%s): %s is not an executable file", source, path)
	}
	ctx, cancel := context.WithTimeout(context.Background(), daprdVersionTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "--version").CombinedOutput()
	version = strings.TrimSpace(string(out))
	if err != nil {
		return "", "", fmt.Errorf("daprd under test (%s): %s --version: %w: %s", source, path, err, firstLine(version))
	}
	if version == "" || strings.ContainsAny(version, " \n") {
		return "", "", fmt.Errorf("daprd under test (%s): %s --version printed %q, not a version: is it daprd?", source, path, firstLine(version))
	}
	return path, version, nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// BuildServices builds the services from this checkout (tools/build, as
// make and the images do) into a new temporary directory and points
// knobs.ServicesDir at it, unless it names a directory already. Tests call
// it before entering their network namespace, where nothing reaches the
// network; the re-executed test binary inherits the environment, so it
// finds them. remove deletes what was built.
func BuildServices() (remove func(), err error) {
	if knobs.ServicesDir.Set() {
		return func() {}, nil
	}
	root, err := repo.Find()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "daprshop-bin-")
	if err != nil {
		return nil, err
	}
	if err := build.Build(context.Background(), root, dir); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	os.Setenv(knobs.ServicesDir.Name, dir)
	return func() { os.RemoveAll(dir) }, nil
}

// DaprdBefore reports whether the daprd under test is a release older than
// release (e.g. "v1.18.3"): a scenario replaying a bug fixed in release
// then knows the bug to be there. A daprd of no release version (a
// development build) is taken to have every fix.
func DaprdBefore(t testing.TB, release string) bool {
	t.Helper()
	_, version, err := CheckDaprd(LoadEnv(t).Root)
	if err != nil {
		t.Fatal(err)
	}
	return semver.IsValid("v"+version) && semver.Compare("v"+version, release) < 0
}
