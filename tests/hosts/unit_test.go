package hosts_test

import (
	"bufio"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/daprshop/daprshop/internal/config"
	"github.com/daprshop/daprshop/internal/natstrust"
	"github.com/daprshop/daprshop/tests/harness/repo"
	"github.com/daprshop/daprshop/tests/harness/system"
)

// services are the apps deploy/selfhosted puts on a VM each.
var services = []string{"order", "inventory", "notification"}

// unit is what the tests read from a systemd unit file.
type unit struct {
	path     string
	envFiles []string
	// creds are LoadCredential= pairs: variable name, file.
	creds [][2]string
	// environment is Environment= KEY=VALUE pairs, %d (the credentials
	// directory) not yet expanded.
	environment [][2]string
	// exec is ExecStart split into words, ${VAR} not yet expanded.
	exec []string
	keys map[string][]string
}

// readUnit reads a unit file, as instance for a template (%i), with the
// drop-ins systemd adds to it (UNIT.d/*.conf beside it).
func readUnit(t *testing.T, path, instance string) unit {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// A template's drop-ins (daprshop-daprd@.service.d) apply to every
	// instance, then the instance's own (daprshop@notification.service.d).
	name := strings.Replace(filepath.Base(path), "@.", "@"+instance+".", 1)
	var dropIns []string
	for _, dir := range slices.Compact([]string{filepath.Base(path), name}) {
		found, err := filepath.Glob(filepath.Join(filepath.Dir(path), dir+".d", "*.conf"))
		if err != nil {
			t.Fatal(err)
		}
		dropIns = append(dropIns, found...)
	}
	for _, f := range dropIns {
		more, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		data = append(append(data, '\n'), more...)
	}
	text := strings.ReplaceAll(string(data), "\\\n", " ")
	text = strings.ReplaceAll(text, "%i", instance)
	u := unit{path: path, keys: map[string][]string{}}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: not key=value: %q", path, line)
		}
		u.keys[k] = append(u.keys[k], v)
		switch k {
		case "EnvironmentFile":
			u.envFiles = append(u.envFiles, v)
		case "LoadCredential":
			name, file, _ := strings.Cut(v, ":")
			u.creds = append(u.creds, [2]string{name, file})
		case "Environment":
			name, value, _ := strings.Cut(v, "=")
			u.environment = append(u.environment, [2]string{name, value})
		case "ExecStart":
			u.exec = strings.Fields(v)
		}
	}
	return u
}

// flag returns the value after --name in the unit's ExecStart.
func (u unit) flag(t *testing.T, name string) string {
	t.Helper()
	i := slices.Index(u.exec, "--"+name)
	if i < 0 || i+1 >= len(u.exec) {
		t.Fatalf("%s: ExecStart has no --%s", u.path, name)
	}
	return u.exec[i+1]
}

// readEnvFile reads KEY=VALUE lines the way systemd's EnvironmentFile= does
// for the plain values these files hold.
func readEnvFile(t *testing.T, path string, into map[string]string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: not KEY=VALUE: %q", path, line)
		}
		into[k] = v
	}
}

// expand replaces ${VAR} in the words with env, failing on an unset one.
func expand(t *testing.T, words []string, env map[string]string) []string {
	t.Helper()
	out := make([]string, len(words))
	for i, w := range words {
		out[i] = os.Expand(w, func(k string) string {
			v, ok := env[k]
			if !ok {
				t.Fatalf("ExecStart uses $%s, which no env file sets", k)
			}
			return v
		})
	}
	return out
}

// install runs deploy/selfhosted/install.sh --root into a new directory
// with the binaries in bins (BIN_DIR, DAPRD, SENTRY) and returns it; args
// are its options and roles.
func install(t *testing.T, bins []string, args ...string) string {
	t.Helper()
	root := t.TempDir()
	cmd := exec.Command("sh", append([]string{filepath.Join(repo.Root(t), "deploy", "selfhosted", "install.sh"), "--root", root}, args...)...)
	cmd.Env = append(os.Environ(), bins...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("install.sh: %v\n%s", err, out)
	}
	return root
}

// stubBinaries makes empty executables where install.sh takes binaries
// from: enough for systemd-analyze, which checks that ExecStart exists.
func stubBinaries(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range append(slices.Clone(services), "daprd", "sentry") {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return []string{"BIN_DIR=" + dir, "DAPRD=" + filepath.Join(dir, "daprd"), "SENTRY=" + filepath.Join(dir, "sentry")}
}

// TestUnitsVerify runs systemd-analyze verify on every unit as install.sh
// lays it out, each template as each of its instances. Any complaint fails,
// warnings included: systemd ignores a directive it cannot parse, so a
// misspelt hardening line would otherwise pass silently.
func TestUnitsVerify(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Fatal("systemd-analyze is missing: make test installs it (Debian package systemd)")
	}
	root := install(t, stubBinaries(t), append(slices.Clone(services), "sentry")...)
	// systemd-analyze --root resolves the default targets inside the root.
	cp := exec.Command("cp", "-r", "/usr/lib/systemd/system", filepath.Join(root, "usr", "lib", "systemd")+"/")
	if err := os.MkdirAll(filepath.Join(root, "usr", "lib", "systemd"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := cp.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	units := []string{"daprshop-sentry.service"}
	for _, s := range services {
		units = append(units, "daprshop@"+s+".service", "daprshop-daprd@"+s+".service")
	}
	cmd := exec.Command("systemd-analyze", append([]string{"verify", "--man=no", "--generators=no", "--root=" + root}, units...)...)
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify %v: %v\n%s", units, err, out)
	}
}

// TestUnitsAgreeWithRunFile checks that what the units run on VMs and what
// `make run` and the e2e suite run (deploy/selfhosted/dapr.yaml) are the same
// apps, on the same ports, with the same resources.
func TestUnitsAgreeWithRunFile(t *testing.T) {
	root := repo.Root(t)
	sh := filepath.Join(root, "deploy", "selfhosted")
	apps, err := repo.ReadRunFile(filepath.Join(sh, "dapr.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	raw := readRunFilePorts(t, filepath.Join(sh, "dapr.yaml"))
	var ids []string
	for _, a := range apps {
		ids = append(ids, a.AppID)
	}
	if !slices.Equal(ids, services) {
		t.Fatalf("run file apps %v, units are for %v", ids, services)
	}
	installed := install(t, stubBinaries(t), services...)
	for _, a := range apps {
		t.Run(a.AppID, func(t *testing.T) {
			daprd := readUnit(t, filepath.Join(sh, "systemd", "daprshop-daprd@.service"), a.AppID)
			app := readUnit(t, filepath.Join(sh, "systemd", "daprshop@.service"), a.AppID)
			if !slices.Equal(daprd.envFiles, app.envFiles) || !slices.Equal(daprd.creds[:2], app.creds[:2]) {
				t.Errorf("app and sidecar units read different env files or tokens: %v %v, %v %v", app.envFiles, app.creds, daprd.envFiles, daprd.creds)
			}
			env := map[string]string{}
			for _, f := range daprd.envFiles {
				if filepath.Base(f) == "backend.env" {
					f = "backend-redis.env" // install.sh's copy of the profile's
				}
				readEnvFile(t, filepath.Join(sh, "env", filepath.Base(f)), env)
			}
			args := expand(t, daprd.exec, env)
			got := unit{path: daprd.path, exec: args}
			want := raw[a.AppID]
			for flag, runFileValue := range map[string]string{
				"app-id":                a.AppID,
				"app-port":              strconv.Itoa(a.AppPort),
				"dapr-http-port":        want["daprHTTPPort"],
				"dapr-grpc-port":        want["daprGRPCPort"],
				"metrics-port":          want["metricsPort"],
				"app-protocol":          a.AppProtocol,
				"app-health-check-path": a.AppHealthPath,
			} {
				if v := got.flag(t, flag); v != runFileValue {
					t.Errorf("--%s: unit %q, run file %q", flag, v, runFileValue)
				}
			}
			if env["APP_PORT"] != strconv.Itoa(a.AppPort) {
				t.Errorf("APP_PORT: env file %q, run file %d", env["APP_PORT"], a.AppPort)
			}
			if filepath.Base(app.exec[len(app.exec)-1]) != filepath.Base(a.Command[0]) {
				t.Errorf("app unit runs %v, run file %v", app.exec, a.Command)
			}
			// The sidecar's resources, as installed, are the run file's.
			unitRes := filepath.Join(installed, got.flag(t, "resources-path"))
			if len(a.ResourcesPaths) != 1 {
				t.Fatalf("run file resources %v: want one directory", a.ResourcesPaths)
			}
			if a, b := dirListing(t, a.ResourcesPaths[0]), dirListing(t, unitRes); !slices.Equal(a, b) {
				t.Errorf("resources: run file has %v, the unit's %s has %v", a, got.flag(t, "resources-path"), b)
			}
		})
	}
}

func dirListing(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			continue // another backend profile's components: daprd reads no subdirectory
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, e.Name()+":"+strconv.Itoa(len(data)))
	}
	return names
}

// TestInstallIsIdempotent checks that install.sh --dry-run changes nothing,
// and that a second run keeps the operator's env files and secrets and
// rewrites nothing.
func TestInstallIsIdempotent(t *testing.T) {
	script := filepath.Join(repo.Root(t), "deploy", "selfhosted", "install.sh")
	bins := stubBinaries(t)
	root := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("sh", append([]string{script, "--root", root}, args...)...)
		cmd.Env = append(os.Environ(), bins...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("install.sh %v: %v\n%s", args, err, out)
		}
		return string(out)
	}

	if out := run("--dry-run", "order", "sentry"); !strings.Contains(out, "would run: install") {
		t.Errorf("--dry-run does not say what it would do:\n%s", out)
	}
	if entries, _ := os.ReadDir(root); len(entries) > 0 {
		t.Fatalf("--dry-run wrote %v", entries)
	}

	run("order", "sentry")
	token := filepath.Join(root, "etc", "daprshop", "secrets", "order", "dapr-api-token")
	first, err := os.ReadFile(token)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 64 {
		t.Errorf("token %q: want 64 hex digits", first)
	}
	edited := filepath.Join(root, "etc", "daprshop", "order.env")
	if err := os.WriteFile(edited, []byte("DAPR_HOST_IP=10.1.2.3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(run("order", "sentry")), "\n") {
		if !strings.Contains(line, "unchanged ") && !strings.Contains(line, "kept ") && !strings.Contains(line, "tls/ca.crt") && !strings.HasSuffix(line, "done") {
			t.Errorf("second run did something: %s", line)
		}
	}
	if again, _ := os.ReadFile(token); string(again) != string(first) {
		t.Error("second run replaced the token")
	}
	if env, _ := os.ReadFile(edited); string(env) != "DAPR_HOST_IP=10.1.2.3\n" {
		t.Errorf("second run replaced the operator's order.env: %q", env)
	}
}

// TestInstallTakesNATSTrust gives install.sh the keys notification
// nats-trust made: notification's three files land root-only where its
// unit's drop-in loads them from; a directory without them is refused
// before anything changes.
func TestInstallTakesNATSTrust(t *testing.T) {
	script := filepath.Join(repo.Root(t), "deploy", "selfhosted", "install.sh")
	bins := stubBinaries(t)
	root := t.TempDir()
	installer := func(args ...string) ([]byte, error) {
		cmd := exec.Command("sh", append([]string{script, "--root", root}, args...)...)
		cmd.Env = append(os.Environ(), bins...)
		return cmd.CombinedOutput()
	}

	out, err := installer("--nats-trust", t.TempDir(), "notification")
	if code := exitCode(err); code != 2 || !strings.Contains(string(out), "notification/nats.creds") {
		t.Errorf("--nats-trust with an empty directory: exit %d, %s; want 2, naming the missing file", code, out)
	}
	if entries, _ := os.ReadDir(root); len(entries) > 0 {
		t.Fatalf("a refused install wrote %v", entries)
	}

	auth := system.NewNATSAuth(t, system.ServicesDir(repo.Root(t)))
	if out, err := installer("--nats-trust", auth.Dir, "notification"); err != nil {
		t.Fatalf("install.sh --nats-trust: %v\n%s", err, out)
	}
	app := readUnit(t, filepath.Join(root, "etc", "systemd", "system", "daprshop@.service"), "notification")
	for _, f := range []string{natstrust.CredentialsFile, natstrust.SigningKeyFile, natstrust.AccountFile} {
		installed := filepath.Join(root, "etc", "daprshop", "secrets", f)
		made, _ := os.ReadFile(filepath.Join(auth.Dir, f))
		if got, err := os.ReadFile(installed); err != nil || string(got) != string(made) {
			t.Errorf("%s: %v; want what nats-trust made", installed, err)
		}
		if fi, err := os.Stat(installed); err == nil && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", installed, fi.Mode().Perm())
		}
		if !slices.ContainsFunc(app.creds, func(c [2]string) bool { return c[1] == "/etc/daprshop/secrets/"+f }) {
			t.Errorf("daprshop@notification loads no credential from /etc/daprshop/secrets/%s: %v", f, app.creds)
		}
	}
}

// exitCode is the exit status err reports (0 for none, -1 for no exit).
func exitCode(err error) int {
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return exit.ExitCode()
	}
	return -1
}

// TestInstallSwitchesBackend installs a service VM on the second backend
// profile: the profile's components in place of the Redis ones, the
// sidecar's drop-in loading its connection strings from secrets install.sh
// creates, backend.env telling order to create first-write. A run without
// --backend keeps the profile; --backend redis switches back; a profile
// that does not exist is refused and changes nothing.
func TestInstallSwitchesBackend(t *testing.T) {
	script := filepath.Join(repo.Root(t), "deploy", "selfhosted", "install.sh")
	bins := stubBinaries(t)
	root := t.TempDir()
	run := func(args ...string) (string, error) {
		cmd := exec.Command("sh", append([]string{script, "--root", root}, args...)...)
		cmd.Env = append(os.Environ(), bins...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	installed := func(t *testing.T, want map[string]string) {
		t.Helper()
		daprd := readUnit(t, filepath.Join(root, "etc", "systemd", "system", "daprshop-daprd@.service"), "order")
		env := map[string]string{}
		readEnvFile(t, filepath.Join(root, "etc", "daprshop", "backend.env"), env)
		store, err := os.ReadFile(filepath.Join(root, "etc", "daprshop", "components", "statestore.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{
			"backend":    env["DAPRSHOP_BACKEND"],
			"create":     env[config.EnvOrderStoreCreateETag],
			"store type": regexp.MustCompile(`type: (\S+)`).FindStringSubmatch(string(store))[1],
			"loads":      fmt.Sprint(daprd.creds[3:]), // after the tokens and trust anchors
		}
		if !maps.Equal(got, want) {
			t.Errorf("installed %v, want %v", got, want)
		}
		for _, c := range daprd.creds[3:] {
			if _, err := os.Stat(filepath.Join(root, c[1])); err != nil {
				t.Errorf("the sidecar loads %s from a file install.sh did not create: %v", c[0], err)
			}
		}
	}
	postgres := map[string]string{"backend": "postgres-rabbitmq", "create": "", "store type": "state.postgresql",
		"loads": "[[POSTGRES_CONNECTION_STRING /etc/daprshop/secrets/postgres-connection-string] [RABBITMQ_CONNECTION_STRING /etc/daprshop/secrets/rabbitmq-connection-string]]"}

	if out, err := run("--backend", "postgres-rabbitmq", "order"); err != nil {
		t.Fatalf("install.sh --backend postgres-rabbitmq: %v\n%s", err, out)
	}
	installed(t, postgres)
	if out, err := run("order"); err != nil {
		t.Fatalf("install.sh again: %v\n%s", err, out)
	}
	installed(t, postgres)
	if out, err := run("--backend", "mongodb", "order"); exitCode(err) != 2 || !strings.Contains(out, "want redis or postgres-rabbitmq") {
		t.Errorf("--backend mongodb: exit %d, %q; want 2 and the profiles named", exitCode(err), out)
	}
	installed(t, postgres)
	if out, err := run("--backend", "redis", "order"); err != nil {
		t.Fatalf("install.sh --backend redis: %v\n%s", err, out)
	}
	installed(t, map[string]string{"backend": "redis", "create": "2147483647", "store type": "state.redis",
		"loads": "[[REDIS_PASSWORD /etc/daprshop/secrets/redis-password] [PUBSUB_REDIS_PASSWORD /etc/daprshop/secrets/redis-password]]"})
}
