package vms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/daprshop/daprshop/internal/auth/authtest"
	"github.com/daprshop/daprshop/internal/natstrust"
	"github.com/daprshop/daprshop/tests/findings"
	"github.com/daprshop/daprshop/tests/harness/knobs"
	"github.com/daprshop/daprshop/tests/harness/machine"
	"github.com/daprshop/daprshop/tests/harness/proc"
	"github.com/daprshop/daprshop/tests/harness/repo"
	"github.com/daprshop/daprshop/tests/harness/system"
	"github.com/daprshop/daprshop/tests/report"
	"github.com/daprshop/daprshop/tests/suite"
)

// The layout deploy/selfhosted's env files describe: the backends VM and
// one VM per service on 192.0.2.0/24 (a range reserved for documentation,
// here inside the test's own network namespace).
const (
	prefix       = "192.0.2."
	backendsHost = 10
)

// services are the service VMs, by the last byte of their address, as the
// env files have them.
var services = []struct {
	id   string
	host int
}{{"order", 11}, {"inventory", 12}, {"notification", 13}}

// release is what each VM gets of the build machine, read-only, as step 1
// of the README has the operator copy it: the checkout (deploy/,
// components/, tools/daprd/go.mod), the services, daprd and sentry.
const (
	checkoutDir = "/srv/daprshop"
	// natsTrustDir is what notification nats-trust made on the build
	// machine, for the backends and notification VMs.
	natsTrustDir = "/srv/nats-trust"
	servicesDir  = "/srv/daprshop-bin"
	daprdDir     = "/srv/daprd"
	sentryDir    = "/srv/sentry"
	// otherDaprdDir and otherSentryDir hold the release an upgrade or a
	// rollback installs.
	otherDaprdDir  = "/srv/daprd-other"
	otherSentryDir = "/srv/sentry-other"
)

// dapr is a release's binaries on the build machine, which install.sh
// installs on the machines.
type dapr struct {
	daprd, sentry string
	// version is daprd's ("v1.17.5"), sentryVersion sentry's, "" when
	// not known (SENTRY names a binary built from a copy of the dapr
	// module: sentry has no --version, so its build information says).
	version, sentryVersion string
}

// startTimeout bounds how long an app may take to be ready once systemd
// started it, or after a fault: about 3 s here, most of it the sidecar's
// start.
const startTimeout = time.Minute

// shop is daprshop installed on its machines.
type shop struct {
	// installer runs install.sh on a machine with the release installed
	// first, otherInstaller with the other one install was given.
	installer, otherInstaller []string
	bridge                    *machine.Bridge
	backends                  *machine.Machine
	backend                   backendVM // what the backends machine runs
	vms                       map[string]*machine.Machine
	// issuer is the OpenID Connect issuer env/daprshop.env names, whose
	// tokens the services accept: the test's own, on the operator's side
	// of the bridge.
	issuer *authtest.Issuer
}

// install boots the machines and installs daprshop on them with release d
// the way the README tells an operator to, every process started by
// systemd. other, when set, is a release the machines see too, which
// otherInstaller installs: an upgrade, or a rollback.
func install(t *testing.T, sc *report.ScenarioRecorder, d dapr, other *dapr) *shop {
	t.Helper()
	root := repo.Root(t)
	natsAuth := system.NewNATSAuth(t, system.ServicesDir(root))
	profile, err := system.SelectedProfile()
	if err != nil {
		t.Fatal(err)
	}
	backend, ok := backendVMs[profile.Name]
	if !ok {
		t.Fatalf("no backends VM for profile %s", profile.Name)
	}
	s := &shop{
		installer: installer(profile.Name, d, daprdDir, sentryDir),
		backend:   backend,
		vms:       map[string]*machine.Machine{},
		bridge:    machine.NewBridge(t, "br-shop", prefix),
	}
	// The issuer listens on the bridge, the operator's side of it.
	s.issuer = startIssuer(t)
	// Step 1: the release, on every machine.
	release := []string{
		root + ":" + checkoutDir,
		natsAuth.Dir + ":" + natsTrustDir,
		system.ServicesDir(root) + ":" + servicesDir,
		filepath.Dir(d.daprd) + ":" + daprdDir,
		filepath.Dir(d.sentry) + ":" + sentryDir,
	}
	if other != nil {
		s.otherInstaller = installer(profile.Name, *other, otherDaprdDir, otherSentryDir)
		release = append(release, filepath.Dir(other.daprd)+":"+otherDaprdDir, filepath.Dir(other.sentry)+":"+otherSentryDir)
	}
	sc.Phase("booting the machines")
	s.boot(t, release)
	sc.Phase("installing")
	ca, secrets := s.installBackends(t, natsAuth)
	s.installServices(t, ca, secrets)
	sc.Phase("waiting for the apps")
	s.awaitServices(t, sc)
	return s
}

// installer runs install.sh with backend profile on a machine that sees
// release d's daprd in daprdDir and its sentry in sentryDir.
func installer(profile string, d dapr, daprdDir, sentryDir string) []string {
	return []string{"env", "BIN_DIR=" + servicesDir, "DAPRD=" + filepath.Join(daprdDir, filepath.Base(d.daprd)),
		"SENTRY=" + filepath.Join(sentryDir, filepath.Base(d.sentry)), checkoutDir + "/deploy/selfhosted/install.sh",
		"--backend", profile}
}

// boot boots the backends machine and one per service on the shop's
// bridge, each seeing release read-only and logging under the test's log
// directory.
func (s *shop) boot(t *testing.T, release []string) {
	t.Helper()
	logDir := filepath.Join(run.Out(repo.Root(t)), "logs", strings.ReplaceAll(t.Name(), "/", "_"))
	if err := os.RemoveAll(logDir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	s.backends = machine.Boot(t, image, s.bridge, logDir, machine.Spec{Name: "backends", Host: backendsHost, BindRO: release})
	for _, svc := range services {
		s.vms[svc.id] = machine.Boot(t, image, s.bridge, logDir, machine.Spec{Name: svc.id, Host: svc.host, BindRO: release})
	}
}

// installBackends is step 2: the profile's servers and NATS on the
// backends machine, on its address, each with a password; then sentry.
// It returns sentry's CA certificate, once sentry serves, and the servers'
// secrets the services need.
func (s *shop) installBackends(t *testing.T, natsAuth *system.NATSAuth) (ca []byte, secrets map[string]string) {
	t.Helper()
	b := s.backends
	secrets = s.backend.setUp(t, b)
	// NATS authenticates its clients: the configuration includes the
	// trust nats-trust made, copied beside it.
	b.WriteFile(t, filepath.Join("etc", natstrust.ServerConfigFile), natsAuth.ServerConfig, 0o644)
	b.WriteFile(t, "etc/nats-server.conf", "host: "+b.IP+"\nport: 4222\ninclude \""+natstrust.ServerConfigFile+"\"\n", 0o644)
	b.MustExec(t, "systemctl", "enable", "--now", "nats-server")
	b.MustExec(t, append(s.installer, "sentry")...)
	b.MustExec(t, "systemctl", "start", "daprshop-sentry")
	ca = waitFile(t, b, "var/lib/daprshop-sentry/ca.crt")
	// sentry writes ca.crt before it serves: a sidecar started in between
	// fails to get its identity (a fatal error in its journal, before
	// Restart= tries again). Wait until it is healthy.
	if err := waitOK(b, "http://127.0.0.1:8090/healthz", startTimeout); err != nil {
		t.Fatalf("sentry on %s not healthy: %v; systemd says: %s", b.Name, err, status(b, "daprshop-sentry.service"))
	}
	return ca, secrets
}

// installServices is steps 3 to 7 on every service machine: the CA,
// install.sh, the backends' secrets, and the units enabled and started.
func (s *shop) installServices(t *testing.T, ca []byte, secrets map[string]string) {
	t.Helper()
	for _, svc := range services {
		vm := s.vms[svc.id]
		vm.WriteFile(t, "root/ca.crt", string(ca), 0o644)
		args := []string{"--ca-cert", "/root/ca.crt"}
		if svc.id == "notification" {
			args = append(args, "--nats-trust", natsTrustDir)
		}
		vm.MustExec(t, slices.Concat(s.installer, args, []string{svc.id})...)
		for name, secret := range secrets {
			vm.WriteFile(t, "etc/daprshop/secrets/"+name, secret, 0o600)
		}
	}
	for _, svc := range services {
		// Started, not waited for: a unit that fails is reported by
		// awaitServices in systemd's own words.
		_, _ = s.vms[svc.id].Exec("systemctl", "enable", "--now", "--no-block", "daprshop@"+svc.id)
	}
}

// awaitServices checks that every app, started by systemd, is ready
// within startTimeout, and stops the test if one is not: the scenarios
// after it need them all.
func (s *shop) awaitServices(t *testing.T, sc *report.ScenarioRecorder) {
	t.Helper()
	errs := make([]error, len(services))
	var wg sync.WaitGroup
	for i, svc := range services {
		wg.Go(func() { errs[i] = waitReady(s.vms[svc.id], svc.id, startTimeout) })
	}
	wg.Wait()
	ready := true
	for i, svc := range services {
		vm := s.vms[svc.id]
		observed := "ready"
		if errs[i] != nil {
			observed = fmt.Sprintf("%v; systemd says: %s; %s", errs[i], status(vm, "daprshop@"+svc.id, "daprshop-daprd@"+svc.id),
				restarts(vm, "daprshop-daprd@"+svc.id))
		}
		ready = sc.Check(svc.id+" started by systemd and ready", errs[i] == nil, fmt.Sprintf("/readyz 200 within %s", startTimeout), observed) && ready
	}
	if !ready {
		t.FailNow()
	}
}

// backendVM is what the backends machine runs for a backend profile,
// beside NATS and sentry.
type backendVM struct {
	// servers are installed from Debian's packages.
	servers []machine.Server
	// setUp configures and starts them on b as deploy/selfhosted's README
	// tells an operator to: listening on the machine's address, with a
	// password. It returns the secrets the service machines' sidecars
	// need, by their file's name under /etc/daprshop/secrets/.
	setUp func(t *testing.T, b *machine.Machine) map[string]string
	// orderStored asks the state store on b, past Dapr, whether it holds
	// the order with id.
	orderStored func(b *machine.Machine, id string) (bool, error)
}

// The passwords the backends machine's servers are given.
const redisPassword, backendPassword = "vm-e2e-redis-password", "vm-e2e-backend-password"

var backendVMs = map[string]backendVM{
	"redis": {
		servers: []machine.Server{{Package: "redis-server", Unit: "redis-server.service"}},
		setUp: func(t *testing.T, b *machine.Machine) map[string]string {
			redisConf := string(b.ReadFile(t, "etc/redis/redis.conf"))
			redisConf = strings.Replace(redisConf, "bind 127.0.0.1 -::1", "bind "+b.IP, 1)
			redisConf += "\nrequirepass " + redisPassword + "\n"
			b.WriteFile(t, "etc/redis/redis.conf", redisConf, 0o640)
			b.MustExec(t, "systemctl", "enable", "--now", "redis-server")
			return map[string]string{"redis-password": redisPassword}
		},
		orderStored: func(b *machine.Machine, id string) (bool, error) {
			out, err := b.Exec("redis-cli", "-h", b.IP, "-a", redisPassword, "--no-auth-warning", "EXISTS", "order||order:"+id)
			return strings.TrimSpace(out) == "1", err
		},
	},
	"postgres-rabbitmq": {
		servers: []machine.Server{{Package: "postgresql-15", Unit: "postgresql.service"}, {Package: "rabbitmq-server", Unit: "rabbitmq-server.service"}},
		setUp: func(t *testing.T, b *machine.Machine) map[string]string {
			// PostgreSQL: Debian's cluster 15/main, listening on the
			// machine's address too, daprshop's role and database reached
			// from the machines' network with a password.
			b.WriteFile(t, "etc/postgresql/15/main/conf.d/daprshop.conf", "listen_addresses = 'localhost,"+b.IP+"'\n", 0o644)
			b.MustExec(t, "sh", "-c", "echo 'host daprshop daprshop "+prefix+"0/24 scram-sha-256' >>/etc/postgresql/15/main/pg_hba.conf")
			b.MustExec(t, "systemctl", "enable", "--now", "postgresql@15-main")
			b.MustExec(t, "runuser", "-u", "postgres", "--", "psql", "-c", "CREATE ROLE daprshop LOGIN PASSWORD '"+backendPassword+"'")
			b.MustExec(t, "runuser", "-u", "postgres", "--", "psql", "-c", "CREATE DATABASE daprshop OWNER daprshop")
			// RabbitMQ: on the machine's address, a user of daprshop's
			// own (guest may connect from loopback only).
			b.WriteFile(t, "etc/rabbitmq/rabbitmq-env.conf", "NODE_IP_ADDRESS="+b.IP+"\n", 0o644)
			b.MustExec(t, "systemctl", "enable", "--now", "rabbitmq-server")
			b.MustExec(t, "rabbitmqctl", "add_user", "daprshop", backendPassword)
			b.MustExec(t, "rabbitmqctl", "set_permissions", "-p", "/", "daprshop", ".*", ".*", ".*")
			return map[string]string{
				"postgres-connection-string": fmt.Sprintf("host=%s port=5432 user=daprshop password=%s dbname=daprshop sslmode=disable", b.IP, backendPassword),
				"rabbitmq-connection-string": fmt.Sprintf("amqp://daprshop:%s@%s:5672", backendPassword, b.IP),
			}
		},
		orderStored: func(b *machine.Machine, id string) (bool, error) {
			// The orderstore's table: its tablePrefix, then "state".
			out, err := b.Exec("runuser", "-u", "postgres", "--", "psql", "-d", "daprshop", "-tAc",
				"SELECT count(*) FROM orderstore_state WHERE key = 'order||order:"+id+"'")
			return strings.TrimSpace(out) == "1", err
		},
	},
}

// natsServer runs on the backends VM whatever the profile.
var natsServer = machine.Server{Package: "nats-server", Unit: "nats-server.service"}

// waitFile waits for path on machine m and returns its content.
func waitFile(t *testing.T, m *machine.Machine, path string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var data []byte
	err := proc.WaitUntil(ctx, func(context.Context) error {
		var err error
		data, err = os.ReadFile(filepath.Join(m.Root, path))
		return err
	})
	if err != nil {
		t.Fatalf("%s on %s: %v", path, m.Name, err)
	}
	return data
}

// mainPID is the main PID systemd gives unit on vm ("0" while none runs).
func mainPID(t *testing.T, vm *machine.Machine, unit string) string {
	t.Helper()
	return strings.TrimSpace(vm.MustExec(t, "systemctl", "show", "--property=MainPID", "--value", unit))
}

// appPort is the port the service's app listens on, as its env file says.
func appPort(id string) int {
	return map[string]int{"order": 8080, "inventory": 8081, "notification": 8082}[id]
}

// daprHTTPPort is the port the service's sidecar serves Dapr's HTTP API
// on, as its env file says (DAPR_HTTP_PORT).
func daprHTTPPort(id string) int {
	return map[string]int{"order": 3500, "inventory": 3501, "notification": 3502}[id]
}

// get sends a GET from inside vm and returns the status and body.
func (s *shop) get(vm *machine.Machine, url string) (int, []byte, error) {
	return s.call(vm, http.MethodGet, url, "")
}

// call sends a request from inside vm, with a JSON body when body is set,
// and an operator's bearer token (who acts for the customers a request
// names).
func (s *shop) call(vm *machine.Machine, method, url, body string) (int, []byte, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+s.issuer.Operator(operatorSubject))
	resp, err := vm.HTTPClient().Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

// sku is the SKU every order of the suite takes two of.
const sku = "SKU-1"

// ledger is what the suite did to the shop, to check it against what the
// shop says.
type ledger struct {
	// stock is SKU-1's available plus reserved before the first order;
	// reserved, its reserved then.
	stock, reserved int
	// confirmed are the orders confirmed so far.
	confirmed []string
}

// TestVMs installs daprshop on its machines, as the README says, and runs
// the scenarios an operator's VMs go through: an order across them, a
// sidecar killed, an app restarted, a machine rebooted. Each is a scenario
// of the report, with its recovery time and the invariants after it.
func TestVMs(t *testing.T) {
	sc := run.Scenario(t, "vms: install.sh on four machines, every process started by systemd")
	underTest := daprUnderTest(t)
	previous, hasPrevious := previousRelease(t, underTest)
	s := install(t, sc, underTest, previous)
	s.checkSystemd(t, sc)
	s.measureExposure(t, sc)
	l := &ledger{}
	item := s.item(t)
	l.stock, l.reserved = item.Available+item.Reserved, item.Reserved

	t.Run("order across machines", func(t *testing.T) {
		sc := run.Scenario(t, "vms: an order across machines")
		s.order(t, sc, l, "c-vm-1")
		s.checkInvariants(t, sc, l)
		s.checkAccess(t, sc)
	})
	t.Run("sidecar killed", func(t *testing.T) {
		sc := run.Scenario(t, "vms: inventory's sidecar killed (systemctl kill -s KILL), Restart= brings it back")
		const unit = "daprshop-daprd@inventory"
		vm := s.vms["inventory"]
		killed := mainPID(t, vm, unit)
		start := time.Now()
		vm.MustExec(t, "systemctl", "kill", "--signal=KILL", unit)
		// The app answers /readyz until it notices its sidecar gone: wait
		// for the sidecar systemd started again first.
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		err := proc.WaitUntil(ctx, func(context.Context) error {
			if pid := mainPID(t, vm, unit); pid == "0" || pid == killed {
				return fmt.Errorf("%s: main PID %s, the killed one %s", unit, pid, killed)
			}
			return nil
		})
		sc.Check("systemd started the sidecar again", err == nil, "a new main PID within "+startTimeout.String(), fmt.Sprint(err))
		s.recovers(t, sc, "inventory", start)
		s.order(t, sc, l, "c-vm-2")
		s.checkInvariants(t, sc, l)
	})
	t.Run("app restarted", func(t *testing.T) {
		sc := run.Scenario(t, "vms: the order app restarted (systemctl restart)")
		start := time.Now()
		s.vms["order"].MustExec(t, "systemctl", "restart", "daprshop@order")
		s.recovers(t, sc, "order", start)
		s.order(t, sc, l, "c-vm-3")
		s.checkInvariants(t, sc, l)
	})
	t.Run("machine cut off", func(t *testing.T) {
		sc := run.Scenario(t, "vms: the inventory machine cut off the network for 5s, an order retried with its key")
		inventory := s.vms["inventory"]
		const key = "vm-cut-off"
		body := fmt.Sprintf(`{"customerId":"c-vm-cut","items":[{"sku":%q,"quantity":2}]}`, sku)
		endFault := sc.Fault("inventory cut off")
		inventory.Disconnect(t)
		status, answer, err := s.place(sc, key, body)
		sc.Check("an order while inventory is unreachable is not confirmed", err != nil || status >= 500,
			"5xx or no answer", fmt.Sprintf("%d %s %v", status, answer, err))
		time.Sleep(5 * time.Second)
		start := time.Now()
		inventory.Reconnect(t, s.bridge)
		endFault()
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		var placed struct{ ID, Status string }
		retried := proc.WaitUntil(ctx, func(context.Context) error {
			status, answer, err := s.place(sc, key, body)
			if err == nil && status != http.StatusCreated {
				err = fmt.Errorf("%d %s", status, answer)
			}
			if err == nil {
				err = json.Unmarshal(answer, &placed)
			}
			return err
		})
		sc.Measure("recovery: the order's retry confirmed after the cut", time.Since(start).Seconds(), "s")
		if sc.Check("the order retried with its key is confirmed once", retried == nil && placed.Status == "confirmed",
			"201 confirmed", fmt.Sprintf("%v %+v", retried, placed)) {
			l.confirmed = append(l.confirmed, placed.ID)
		}
		s.checkInvariants(t, sc, l)
	})
	t.Run("machine rebooted", func(t *testing.T) {
		sc := run.Scenario(t, "vms: the notification machine rebooted (systemctl reboot): its units come back by themselves")
		start := time.Now()
		s.vms["notification"].Reboot(t)
		s.recovers(t, sc, "notification", start)
		s.order(t, sc, l, "c-vm-4")
		s.checkInvariants(t, sc, l)
		s.checkSystemd(t, sc)
	})
	// Last, as an operator whose first install of a release went wrong
	// would: back to the release before. Here sentry made the CA, and an
	// older sentry must read it.
	t.Run("rolled back", func(t *testing.T) {
		if !hasPrevious {
			t.Skipf("no release in tools/daprd/releases before %s to roll back to", underTest.version)
		}
		sc := run.Scenario(t, "vms: a fresh install rolled back to "+previous.version+" with install.sh (sentry, then each daprd), nothing lost")
		if !s.switchSentry(t, sc, s.otherInstaller, previous.sentryVersion, previous.version) {
			// Every sidecar asks sentry for its certificate as it starts:
			// none restarted now would.
			return
		}
		s.switchDaprd(t, sc, s.otherInstaller, previous.version, previous.version)
		s.order(t, sc, l, "c-vm-5")
		s.checkInvariants(t, sc, l)
		s.checkSystemd(t, sc)
	})
}

// TestUpgrade installs daprshop with the release before the one under
// test, places orders, installs the release under test with the same
// install.sh, as an operator upgrading would (sentry first, then each
// service's daprd, each restarted), and checks that nothing was lost;
// then rolls back to the release before the same way, and checks again.
func TestUpgrade(t *testing.T) {
	underTest := daprUnderTest(t)
	previous, ok := previousRelease(t, underTest)
	if !ok {
		t.Skipf("no release in tools/daprd/releases before %s to upgrade from", underTest.version)
	}
	sc := run.Scenario(t, "vms: Dapr upgraded from "+previous.version+" with install.sh (sentry, then each daprd), then rolled back, nothing lost")
	s := install(t, sc, *previous, &underTest)
	l := &ledger{}
	item := s.item(t)
	l.stock, l.reserved = item.Available+item.Reserved, item.Reserved
	s.order(t, sc, l, "c-upgrade-1")
	s.order(t, sc, l, "c-upgrade-2")

	sc.Phase("upgrading")
	if !s.switchSentry(t, sc, s.otherInstaller, underTest.sentryVersion, "the new release") {
		t.FailNow()
	}
	s.switchDaprd(t, sc, s.otherInstaller, underTest.version, "the new release")
	s.checkInvariants(t, sc, l)
	s.order(t, sc, l, "c-upgrade-3")
	s.checkSystemd(t, sc)

	// And back, as an operator whose upgrade went wrong would: the same
	// install.sh with the release before.
	sc.Phase("rolling back to " + previous.version)
	if !s.switchSentry(t, sc, s.installer, previous.sentryVersion, previous.version+" again") {
		t.FailNow()
	}
	s.switchDaprd(t, sc, s.installer, previous.version, previous.version+" again")
	s.checkInvariants(t, sc, l)
	s.order(t, sc, l, "c-upgrade-4")
	s.checkSystemd(t, sc)
}

// switchSentry installs on the backends machine the sentry installer
// names (install.sh again, then systemctl restart), as the control plane
// goes first in an upgrade and in a rollback alike, and checks that it
// serves again, on the CA it finds there, as version (described as
// what); version "" is not checked. It reports whether sentry serves: no
// sidecar can start without it.
func (s *shop) switchSentry(t *testing.T, sc *report.ScenarioRecorder, installer []string, version, what string) bool {
	t.Helper()
	const unit = "daprshop-sentry.service"
	b := s.backends
	since := time.Now()
	b.MustExec(t, append(slices.Clone(installer), "sentry")...)
	b.MustExec(t, "systemctl", "restart", unit)
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	var journal, fatal string
	err := proc.WaitUntil(ctx, func(ctx context.Context) error {
		journal = journalSince(b, unit, since)
		if fatal = fatalLine(journal); fatal != "" {
			cancel() // it exited: systemd starts it again, to the same end
			return errors.New(fatal)
		}
		return checkOK(b, "http://127.0.0.1:8090/healthz")
	})
	if fatal != "" {
		err = errors.New(fatal)
	}
	if want := strings.TrimPrefix(version, "v"); want != "" {
		got := system.LoggedDaprVersion(journal)
		sc.Check("sentry runs "+what, got == want, want, got)
	}
	restore := func() {}
	if strings.Contains(fatal, findings.SentryReadsNoEd25519CA.Evidence) {
		restore = sc.KnownIssueFor(findings.SentryReadsNoEd25519CA.Known())
	}
	defer restore()
	return sc.Check("sentry serves, "+what+", on the CA it finds", err == nil, "healthy within "+startTimeout.String(),
		fmt.Sprint(err, "; ", status(b, unit)))
}

// journalSince is what unit logged on vm since then.
func journalSince(vm *machine.Machine, unit string, since time.Time) string {
	journal, _ := vm.Exec("journalctl", "--no-pager", "--output=cat", "--unit", unit, "--since", fmt.Sprintf("@%d", since.Unix()))
	return journal
}

// fatalLine is the first line of journal (Dapr's JSON) at level fatal, or
// "".
func fatalLine(journal string) string {
	for line := range strings.Lines(journal) {
		if strings.Contains(line, `"level":"fatal"`) {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

// switchDaprd installs, on each service machine in turn, the daprd that
// installer names (install.sh again, then systemctl restart), and checks
// that the service is ready again and its sidecar runs version (described
// as what); version "" is not checked.
func (s *shop) switchDaprd(t *testing.T, sc *report.ScenarioRecorder, installer []string, version, what string) {
	t.Helper()
	for _, svc := range services {
		vm := s.vms[svc.id]
		start := time.Now()
		vm.MustExec(t, append(slices.Clone(installer), "--ca-cert", "/root/ca.crt", svc.id)...)
		vm.MustExec(t, "systemctl", "restart", "daprshop@"+svc.id)
		s.recovers(t, sc, svc.id, start)
		got, err := runningDaprdVersion(t, vm, svc.id)
		want := strings.TrimPrefix(version, "v")
		sc.Check("the sidecar of "+svc.id+" runs "+what, err == nil && got == want, want, fmt.Sprint(got, " ", err))
	}
}

// daprUnderTest is what the suite tests: DAPRD (or the build of
// DAPR_VERSION) and SENTRY (or the build of the pinned release).
func daprUnderTest(t *testing.T) dapr {
	t.Helper()
	root := repo.Root(t)
	daprd, err := system.DaprdPath(root)
	if err != nil {
		t.Fatal(err)
	}
	d := dapr{daprd: daprd, version: "v" + daprdVersion(t, daprd), sentry: knobs.Sentry.Path(root, filepath.Join("out", "bin", "sentry"))}
	if knobs.Sentry.Set() {
		d.sentryVersion, err = system.BuiltDaprVersion(d.sentry)
	} else {
		d.sentryVersion, err = repo.PinnedDaprVersion(root)
	}
	if err != nil {
		t.Fatalf("the sentry under test, %s: %v", d.sentry, err)
	}
	return d
}

// previousRelease is the build of the release to upgrade from and roll
// back to: VM_E2E_UPGRADE_FROM, or the newest release in
// tools/daprd/releases before the daprd under test; false when there is
// none.
func previousRelease(t *testing.T, underTest dapr) (*dapr, bool) {
	t.Helper()
	root := repo.Root(t)
	version := ""
	if knobs.VMUpgradeFrom.Set() {
		from, err := knobs.VMUpgradeFrom.Release()
		if err != nil {
			t.Fatal(err)
		}
		version = from
	} else {
		releases, err := repo.Releases(root)
		if err != nil {
			t.Fatal(err)
		}
		if version = repo.ReleaseBefore(releases, underTest.version); version == "" {
			return nil, false
		}
	}
	d := &dapr{version: version, sentryVersion: version, daprd: repo.ReleaseDaprd(root, version), sentry: repo.ReleaseSentry(root, version)}
	for _, path := range []string{d.daprd, d.sentry} {
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("no build of %s to upgrade from: run make vm-e2e (or make vm-e2e-prepare %s=%s): %v", version, knobs.VMUpgradeFrom.Name, version, err)
		}
	}
	return d, true
}

// runningDaprdVersion asks the running sidecar of service id on vm its
// version (the metadata API, with the machine's Dapr API token).
func runningDaprdVersion(t *testing.T, vm *machine.Machine, id string) (string, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/v1.0/metadata", daprHTTPPort(id)), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("dapr-api-token", strings.TrimSpace(string(vm.ReadFile(t, "etc/daprshop/secrets/"+id+"/dapr-api-token"))))
	resp, err := vm.HTTPClient().Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var md struct {
		RuntimeVersion string `json:"runtimeVersion"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&md); err != nil {
		return "", fmt.Errorf("metadata of %s's sidecar (%s): %w", id, resp.Status, err)
	}
	return md.RuntimeVersion, nil
}

// daprdVersion is what the daprd at path on this host says its version is.
func daprdVersion(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command(path, "--version").Output()
	if err != nil {
		t.Fatalf("%s --version: %v", path, err)
	}
	return strings.TrimSpace(string(out))
}

// item reads SKU-1's stock on the inventory VM.
func (s *shop) item(t *testing.T) struct{ Available, Reserved int } {
	t.Helper()
	var item struct{ Available, Reserved int }
	status, body, err := s.get(s.vms["inventory"], "http://127.0.0.1:8081/items/"+sku)
	if err == nil && status == http.StatusOK {
		err = json.Unmarshal(body, &item)
	}
	if err != nil || status != http.StatusOK {
		t.Fatalf("GET /items/%s on the inventory VM: %d %s %v", sku, status, body, err)
	}
	return item
}

// place posts an order on the order VM, with an Idempotency-Key, as a
// client that will retry would.
func (s *shop) place(sc *report.ScenarioRecorder, key, body string) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:8080/orders", strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	req.Header.Set("Authorization", "Bearer "+s.issuer.Operator(operatorSubject))
	start := time.Now()
	resp, err := s.vms["order"].HTTPClient().Do(req)
	if err != nil {
		sc.Request(time.Since(start), true)
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	sc.Request(time.Since(start), resp.StatusCode >= 500)
	return resp.StatusCode, data, err
}

// order places an order of two SKU-1 for customer on the order VM and
// checks it is confirmed, readable, and notified by the notification VM.
func (s *shop) order(t *testing.T, sc *report.ScenarioRecorder, l *ledger, customer string) {
	t.Helper()
	// As a client of the API does: with an Idempotency-Key, retried with
	// it while the answer is none or a 5xx. The first call after a sidecar
	// came back may fail: an order placed right after inventory's sidecar
	// was killed got a 500 with both inventory and its sidecar answering
	// their health checks, most likely because order's sidecar reconnects
	// with gRPC's backoff, which can outlast the resiliency retries (daprd
	// drops a failed connection at once only for an app without a policy).
	var body []byte
	status, attempts, err := suite.UntilAnswered(func() (int, error) {
		status, got, err := s.place(sc, "vm-"+customer, fmt.Sprintf(`{"customerId":%q,"items":[{"sku":%q,"quantity":2}]}`, customer, sku))
		body = got
		return status, err
	})
	var placed struct{ ID, Status string }
	_ = json.Unmarshal(body, &placed)
	if !sc.Check("order confirmed across machines", err == nil && status == http.StatusCreated && placed.Status == "confirmed",
		fmt.Sprintf("201 confirmed within %s of retries with its Idempotency-Key", suite.RetryFor),
		fmt.Sprintf("%d %s %v after %d attempts", status, body, err, attempts)) {
		return
	}
	l.confirmed = append(l.confirmed, placed.ID)
	stored, err := s.backend.orderStored(s.backends, placed.ID)
	sc.Check("order stored on the backends machine", stored && err == nil,
		"its record in the state store there, read past Dapr", fmt.Sprintf("stored %v (%v)", stored, err))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	notified := proc.WaitUntil(ctx, func(context.Context) error {
		_, body, err := s.get(s.vms["notification"], "http://127.0.0.1:8082/notifications?customerId="+customer)
		if err == nil && !strings.Contains(string(body), placed.ID) {
			err = fmt.Errorf("not yet: %s", body)
		}
		return err
	})
	sc.Check("order notified by the notification VM", notified == nil, "recorded as sent within 30s", fmt.Sprint(notified))
}

// checkAccess checks the tokens and the access control install.sh sets
// up: daprd's API refuses a call without the machine's Dapr API token
// (401), and notification may not invoke inventory, which only order may
// (403), even with its own token.
func (s *shop) checkAccess(t *testing.T, sc *report.ScenarioRecorder) {
	t.Helper()
	status, body, err := s.get(s.vms["order"], "http://127.0.0.1:3500/v1.0/metadata")
	sc.Check("the order sidecar refuses a call without the Dapr API token", err == nil && status == http.StatusUnauthorized,
		"401", fmt.Sprintf("%d %s %v", status, body, err))

	notification := s.vms["notification"]
	token := strings.TrimSpace(string(notification.ReadFile(t, "etc/daprshop/secrets/notification/dapr-api-token")))
	req, err := http.NewRequest(http.MethodGet, "http://127.0.0.1:3502/v1.0/invoke/inventory/method/items", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("dapr-api-token", token)
	status, body = 0, nil
	resp, err := notification.HTTPClient().Do(req)
	if err == nil {
		status = resp.StatusCode
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	sc.Check("notification may not invoke inventory (access control)", err == nil && status == http.StatusForbidden,
		"403", fmt.Sprintf("%d %s %v", status, body, err))

	// The public API wants a bearer token from the issuer daprshop.env
	// names: nothing answers a client without one.
	status, body = 0, nil
	if resp, err := s.vms["order"].HTTPClient().Get("http://127.0.0.1:8080/orders/o-1"); err == nil {
		status = resp.StatusCode
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	sc.Check("order refuses a client without a bearer token", status == http.StatusUnauthorized, "401", fmt.Sprintf("%d %s", status, body))

	// NATS takes only clients with credentials of daprshop's account: the
	// notifications it carries are each customer's own.
	nc, err := nats.Connect("nats://"+s.backends.IP+":4222", nats.NoReconnect(), nats.Timeout(5*time.Second))
	if err == nil {
		nc.Close()
	}
	sc.Check("NATS refuses a client without credentials", errors.Is(err, nats.ErrAuthorization), nats.ErrAuthorization.Error(), fmt.Sprint(err))
}

// checkInvariants checks what must hold whatever happened: every order
// confirmed so far reads back confirmed, and SKU-1's stock is conserved
// with exactly their quantities reserved.
func (s *shop) checkInvariants(t *testing.T, sc *report.ScenarioRecorder, l *ledger) {
	t.Helper()
	var unreadable []string
	for _, id := range l.confirmed {
		status, body, err := s.get(s.vms["order"], "http://127.0.0.1:8080/orders/"+id)
		if err != nil || status != http.StatusOK || !strings.Contains(string(body), `"confirmed"`) {
			unreadable = append(unreadable, fmt.Sprintf("%s: %d %s %v", id, status, body, err))
		}
	}
	sc.Check("every confirmed order readable", len(unreadable) == 0, fmt.Sprintf("%d orders", len(l.confirmed)), fmt.Sprint(unreadable))
	item := s.item(t)
	want := l.reserved + 2*len(l.confirmed)
	sc.Check("stock conserved, reserved = what confirmed orders hold", item.Available+item.Reserved == l.stock && item.Reserved == want,
		fmt.Sprintf("total %d, reserved %d", l.stock, want), fmt.Sprintf("total %d, reserved %d", item.Available+item.Reserved, item.Reserved))
}

// recovers waits until service id is ready again (waitReady), and records
// how long that took since the fault, at start.
func (s *shop) recovers(t *testing.T, sc *report.ScenarioRecorder, id string, start time.Time) {
	t.Helper()
	err := waitReady(s.vms[id], id, startTimeout)
	took := time.Since(start)
	sc.Measure("recovery: "+id+" ready again", took.Seconds(), "s")
	sc.Check(id+" ready again", err == nil, fmt.Sprintf("/readyz, then its sidecar's /v1.0/healthz, 2xx within %s", startTimeout),
		fmt.Sprintf("%v after %s", err, took.Round(100*time.Millisecond)))
}

// waitReady waits until the app of service id answers /readyz, which it
// does once its sidecar can make calls, and then until the sidecar answers
// /v1.0/healthz, which it does once it can take them too (its app
// channel is up): the app's readiness alone let an order placed right
// after inventory's sidecar was killed fail with a 500.
func waitReady(vm *machine.Machine, id string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	if err := waitOK(vm, fmt.Sprintf("http://127.0.0.1:%d/readyz", appPort(id)), timeout); err != nil {
		return err
	}
	return waitOK(vm, fmt.Sprintf("http://127.0.0.1:%d/v1.0/healthz", daprHTTPPort(id)), time.Until(deadline))
}

// waitOK waits until url, asked from inside vm, answers 2xx.
func waitOK(vm *machine.Machine, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return proc.WaitUntil(ctx, func(context.Context) error { return checkOK(vm, url) })
}

// checkOK asks url from inside vm once: nil if it answers 2xx.
func checkOK(vm *machine.Machine, url string) error {
	resp, err := vm.HTTPClient().Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s answered %d", url, resp.StatusCode)
	}
	return nil
}

// checkSystemd records what systemd says of the machines: no unit failed
// anywhere, each app and its sidecar active, no error in a sidecar's
// journal.
func (s *shop) checkSystemd(t *testing.T, sc *report.ScenarioRecorder) {
	t.Helper()
	for _, vm := range s.all() {
		failed, _ := vm.Exec("systemctl", "--failed", "--no-legend", "--plain")
		sc.Check("no unit failed on "+vm.Name, strings.TrimSpace(failed) == "", "none", failed)
	}
	for _, svc := range services {
		vm := s.vms[svc.id]
		app, sidecar := "daprshop@"+svc.id+".service", "daprshop-daprd@"+svc.id+".service"
		state, _ := vm.Exec("systemctl", "is-active", app, sidecar)
		sc.Check("app and sidecar active on "+svc.id, strings.Join(strings.Fields(state), " ") == "active active",
			"active active", status(vm, app, sidecar))
		errs := journalErrors(vm, sidecar)
		sc.Check("no error in the journal of "+sidecar, len(errs) == 0, "none", strings.Join(errs, " | "))
	}
}

// measureExposure records each unit's exposure score, as systemd-analyze
// security gives it on the machine that runs it: 0 is the most locked
// down, 10 the least. The units' hardening is what keeps it low, and the
// scenarios show daprd working under it.
func (s *shop) measureExposure(t *testing.T, sc *report.ScenarioRecorder) {
	t.Helper()
	units := map[*machine.Machine][]string{s.backends: {"daprshop-sentry.service"}}
	for _, svc := range services {
		units[s.vms[svc.id]] = []string{"daprshop@" + svc.id + ".service", "daprshop-daprd@" + svc.id + ".service"}
	}
	for _, vm := range s.all() {
		for _, unit := range units[vm] {
			score, err := exposure(vm, unit)
			if err != nil {
				t.Errorf("systemd-analyze security %s on %s: %v", unit, vm.Name, err)
				continue
			}
			sc.Measure("exposure of "+unit, score, "systemd-analyze security (0 best, 10 worst)")
		}
	}
}

// status is what systemctl status says of units: systemd's own words for
// a unit that did not start.
func status(vm *machine.Machine, units ...string) string {
	out, _ := vm.Exec(append([]string{"systemctl", "status", "--no-pager", "--lines=5"}, units...)...)
	return strings.Join(strings.Fields(out), " ")
}

// restarts says, for a unit that failed to come up, what status shows
// only of its latest start: how often systemd restarted it, and the last
// errors it logged.
func restarts(vm *machine.Machine, unit string) string {
	n, _ := vm.Exec("systemctl", "show", "--property=NRestarts", "--value", unit)
	errs := journalErrors(vm, unit)
	return fmt.Sprintf("%s restarted %s times, its last errors: %s", unit, strings.TrimSpace(n), strings.Join(errs[max(0, len(errs)-3):], " | "))
}

// journalErrors returns the lines unit logged (daprd's JSON) at level
// error or fatal, oldest first.
func journalErrors(vm *machine.Machine, unit string) []string {
	journal, _ := vm.Exec("journalctl", "--no-pager", "--output=cat", "--unit", unit)
	var errs []string
	for line := range strings.Lines(journal) {
		if strings.Contains(line, `"level":"error"`) || strings.Contains(line, `"level":"fatal"`) {
			errs = append(errs, strings.TrimSpace(line))
		}
	}
	return errs
}

// exposure is the overall exposure level systemd-analyze security gives
// unit on vm.
func exposure(vm *machine.Machine, unit string) (float64, error) {
	out, err := vm.Exec("systemd-analyze", "security", "--no-pager", unit)
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(out) {
		if _, rest, ok := strings.Cut(line, "Overall exposure level for "+unit+": "); ok {
			var score float64
			_, err := fmt.Sscan(rest, &score)
			return score, err
		}
	}
	return 0, fmt.Errorf("no overall exposure level in: %s", out)
}

// operatorSubject is who the test's operator is.
const operatorSubject = "ops-vms"

// startIssuer serves the OpenID Connect issuer deploy/selfhosted's env
// file names (AUTH_ISSUER), at that address: the test is the operator's
// machine on the VMs' network, on the bridge.
func startIssuer(t *testing.T) *authtest.Issuer {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repo.Root(t), "deploy", "selfhosted", "env", "daprshop.env"))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		if issuer, ok := strings.CutPrefix(strings.TrimSpace(line), "AUTH_ISSUER="); ok {
			return authtest.StartAt(t, issuer)
		}
	}
	t.Fatal("daprshop.env names no AUTH_ISSUER")
	return nil
}

func (s *shop) all() []*machine.Machine {
	out := []*machine.Machine{s.backends}
	for _, svc := range services {
		out = append(out, s.vms[svc.id])
	}
	return out
}
