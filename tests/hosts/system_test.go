package hosts_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/daprshop/daprshop/internal/auth/authtest"
	"github.com/daprshop/daprshop/internal/natstrust"
	"github.com/daprshop/daprshop/tests/harness/knobs"
	"github.com/daprshop/daprshop/tests/harness/proc"
	"github.com/daprshop/daprshop/tests/harness/repo"
	"github.com/daprshop/daprshop/tests/harness/system"
)

// backendsIP is the backends VM of env/daprshop.env: Redis, NATS, sentry.
const backendsIP = "192.0.2.10"

// vms is daprshop spread over hosts as deploy/selfhosted describes.
type vms struct {
	root     string // what install.sh laid out (its --root)
	backends *host
	apps     map[string]*vmApp
	// issuer is the OpenID Connect issuer env/daprshop.env names, whose
	// tokens the services accept.
	issuer *authtest.Issuer
}

// vmApp is one service's VM: the app and its sidecar.
type vmApp struct {
	id         string
	host       *host
	env        map[string]string
	app, daprd *proc.Process
	// daprToken and appToken are the VM's secrets, as install.sh made them.
	daprToken, appToken string
	// bearer is the token the test's requests to the app present: an
	// operator's, who acts for the customers the requests name.
	bearer string
}

func (a *vmApp) appURL() string  { return "http://127.0.0.1:" + a.env["APP_PORT"] }
func (a *vmApp) daprURL() string { return "http://127.0.0.1:" + a.env["DAPR_HTTP_PORT"] }

// internalAddr is where other sidecars call this one.
func (a *vmApp) internalAddr() string {
	return net.JoinHostPort(a.env["DAPR_HOST_IP"], a.env["DAPR_INTERNAL_GRPC_PORT"])
}

// startVMs installs daprshop with install.sh, makes a host per service and
// one for the backends, and starts everything from the units. It returns
// once every app is ready.
func startVMs(t *testing.T) *vms {
	t.Helper()
	root := repo.Root(t)
	daprd, err := system.DaprdPath(root)
	if err != nil {
		t.Fatal(err)
	}
	bins := []string{"BIN_DIR=" + system.ServicesDir(root), "DAPRD=" + daprd, "SENTRY=" + knobs.Sentry.Path(root, filepath.Join("out", "bin", "sentry"))}
	// The operator's step: the deployment's NATS keys, made once.
	natsAuth := system.NewNATSAuth(t, system.ServicesDir(root))
	v := &vms{root: install(t, bins, append([]string{"--nats-trust", natsAuth.Dir, "sentry"}, services...)...), apps: map[string]*vmApp{}}
	logDir := filepath.Join(root, "out", "hosts", "logs", strings.ReplaceAll(t.Name(), "/", "_"))
	if err := os.RemoveAll(logDir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	units := filepath.Join(v.root, "etc", "systemd", "system")

	startBridge(t)
	v.issuer = startIssuer(t, v.path("/etc/daprshop/daprshop.env"))
	v.backends = startHost(t, logDir, "backends", backendsIP, 0)
	// The operator's step: a Redis password, in the file the units read.
	// (Without one Redis 7 refuses other hosts: protected mode.)
	redisPassword := rand.Text()
	if err := os.WriteFile(filepath.Join(v.root, "etc", "daprshop", "secrets", "redis-password"), []byte(redisPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	proc.Start(t, v.backends.spec("redis", logDir, nil, "redis-server", "--bind", backendsIP, "--port", "6379", "--save", "", "--appendonly", "no", "--requirepass", redisPassword))
	proc.Start(t, v.backends.spec("nats", logDir, nil, "nats-server", "-c", natsServerConfig(t, natsAuth)))
	sentry := v.startUnit(t, v.backends, logDir, "sentry", filepath.Join(units, "daprshop-sentry.service"), "")
	// The operator's step: sentry made its root; every VM gets ca.crt.
	ca := filepath.Join(v.root, "var", "lib", "daprshop-sentry", "ca.crt")
	waitFor(t, "sentry's ca.crt and port", func() error {
		if _, err := os.Stat(ca); err != nil {
			return err
		}
		c, err := net.DialTimeout("tcp", backendsIP+":50001", time.Second)
		if err == nil {
			c.Close()
		}
		return err
	}, sentry)
	copyFile(t, ca, filepath.Join(v.root, "etc", "daprshop", "tls", "ca.crt"))

	for i, id := range services {
		env := v.unitEnv(t, readUnit(t, filepath.Join(units, "daprshop@.service"), id))
		a := &vmApp{id: id, env: env, host: startHost(t, logDir, id, env["DAPR_HOST_IP"], i+1)}
		a.daprToken = readSecret(t, filepath.Join(v.root, "etc", "daprshop", "secrets", id, "dapr-api-token"))
		a.appToken = readSecret(t, filepath.Join(v.root, "etc", "daprshop", "secrets", id, "app-api-token"))
		a.bearer = v.issuer.Operator(operatorSubject)
		a.app = v.startUnit(t, a.host, logDir, id, filepath.Join(units, "daprshop@.service"), id)
		a.daprd = v.startUnit(t, a.host, logDir, "daprd-"+id, filepath.Join(units, "daprshop-daprd@.service"), id)
		v.apps[id] = a
	}
	for _, id := range services {
		a := v.apps[id]
		client := a.host.client()
		waitFor(t, id+" ready (its /readyz, which needs its sidecar)", func() error {
			return expectStatus(client, a.appURL()+"/readyz", "", "", http.StatusOK)
		}, a.app, a.daprd)
	}
	return v
}

// unitEnv is the environment systemd gives a unit: its env files.
func (v *vms) unitEnv(t *testing.T, u unit) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, f := range u.envFiles {
		readEnvFile(t, v.path(f), env)
	}
	return env
}

// startUnit starts what unit's ExecStart runs, in host, the way systemd
// would: its env files, its credentials in $CREDENTIALS_DIRECTORY, and the
// installed tree in place of /.
func (v *vms) startUnit(t *testing.T, h *host, logDir, name, unitFile, instance string) *proc.Process {
	t.Helper()
	u := readUnit(t, unitFile, instance)
	env := v.unitEnv(t, u)
	if len(u.creds) > 0 {
		dir := filepath.Join(t.TempDir(), "credentials")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		for _, c := range u.creds {
			copyFile(t, v.path(c[1]), filepath.Join(dir, c[0]))
		}
		env["CREDENTIALS_DIRECTORY"] = dir
	}
	for _, e := range u.environment {
		env[e[0]] = strings.ReplaceAll(e[1], "%d", env["CREDENTIALS_DIRECTORY"])
	}
	if dirs, ok := u.keys["StateDirectory"]; ok {
		for _, d := range dirs {
			if err := os.MkdirAll(v.path("/var/lib/"+d), 0o700); err != nil {
				t.Fatal(err)
			}
		}
	}
	args := expand(t, u.exec, env)
	for i, a := range args {
		args[i] = v.path(a)
	}
	var envList []string
	for _, k := range slices.Sorted(maps.Keys(env)) {
		envList = append(envList, k+"="+env[k])
	}
	return proc.Start(t, h.spec(name, logDir, envList, args[0], args[1:]...))
}

// path maps an absolute path of the VM's layout into the installed tree.
func (v *vms) path(p string) string {
	for _, prefix := range []string{"/etc/daprshop", "/opt/daprshop", "/var/lib/daprshop"} {
		if strings.HasPrefix(p, prefix) {
			return filepath.Join(v.root, p)
		}
	}
	return p
}

// checkSidecars says which host's sidecar the others cannot reach.
func (v *vms) checkSidecars() error {
	var errs []error
	for _, id := range services {
		a := v.apps[id]
		c, err := net.DialTimeout("tcp", a.internalAddr(), 2*time.Second)
		if err != nil {
			errs = append(errs, fmt.Errorf("host %s: its sidecar is unreachable at %s from the hosts' network: %w", id, a.internalAddr(), err))
			continue
		}
		c.Close()
	}
	return errors.Join(errs...)
}

// waitFor waits until check passes (proc.WaitUntil), failing the test when
// it has not after system.ReadyTimeout or when one of procs exits.
func waitFor(t *testing.T, what string, check func() error, procs ...*proc.Process) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), system.ReadyTimeout)
	defer cancel()
	if err := proc.WaitUntil(ctx, func(context.Context) error { return check() }, procs...); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// expectStatus GETs url with the dapr-api-token header (when token is set)
// and wants status.
// expectStatus GETs url with the Dapr API token daprToken and the bearer
// token bearer (each "" for none), and says if it did not answer status.
func expectStatus(client *http.Client, url, daprToken, bearer string, status int) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if daprToken != "" {
		req.Header.Set("dapr-api-token", daprToken)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		return fmt.Errorf("GET %s: %s %s, want %d", url, resp.Status, body, status)
	}
	return nil
}

// operatorSubject is who the test's operator is.
const operatorSubject = "ops-hosts"

// startIssuer serves the OpenID Connect issuer the env file at path names
// (AUTH_ISSUER), at that address: the test is the operator's machine on
// the hosts' network.
func startIssuer(t *testing.T, path string) *authtest.Issuer {
	t.Helper()
	env := map[string]string{}
	readEnvFile(t, path, env)
	return authtest.StartAt(t, env["AUTH_ISSUER"])
}

func readSecret(t *testing.T, path string) string {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("%s: mode %v, want 0600", path, info.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// natsServerConfig is the backends host's nats-server configuration, as the
// README has the operator write it: the address, and an include of the
// trust notification nats-trust made, in the directory beside it.
func natsServerConfig(t *testing.T, auth *system.NATSAuth) string {
	t.Helper()
	path := filepath.Join(auth.Dir, "nats-server.conf")
	config := "host: " + backendsIP + "\nport: 4222\ninclude \"" + natstrust.ServerConfigFile + "\"\n"
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
