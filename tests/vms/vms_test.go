package vms

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/daprshop/daprshop/tests/harness/knobs"
	"github.com/daprshop/daprshop/tests/harness/machine"
	"github.com/daprshop/daprshop/tests/harness/proc"
	"github.com/daprshop/daprshop/tests/harness/repo"
	"github.com/daprshop/daprshop/tests/harness/system"
	"github.com/daprshop/daprshop/tests/report"
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
	servicesDir = "/srv/daprshop-bin"
	daprdDir    = "/srv/daprd"
	sentryDir   = "/srv/sentry"
)

// shop is daprshop installed on its machines.
type shop struct {
	backends *machine.Machine
	vms      map[string]*machine.Machine
}

// install boots the machines and installs daprshop on them the way the
// README tells an operator to, every process started by systemd.
func install(t *testing.T, sc *report.ScenarioRecorder) *shop {
	t.Helper()
	root := repo.Root(t)
	daprd, err := system.DaprdPath(root)
	if err != nil {
		t.Fatal(err)
	}
	sentry := knobs.Sentry.Path(root, filepath.Join("out", "bin", "sentry"))
	binds := []string{
		root + ":" + checkoutDir,
		knobs.ServicesDir.Value() + ":" + servicesDir,
		filepath.Dir(daprd) + ":" + daprdDir,
		filepath.Dir(sentry) + ":" + sentryDir,
	}
	installer := []string{"env", "BIN_DIR=" + servicesDir, "DAPRD=" + filepath.Join(daprdDir, filepath.Base(daprd)),
		"SENTRY=" + filepath.Join(sentryDir, filepath.Base(sentry)), checkoutDir + "/deploy/selfhosted/install.sh"}

	logDir := filepath.Join(root, "out", "vm-e2e", "logs", strings.ReplaceAll(t.Name(), "/", "_"))
	if err := os.RemoveAll(logDir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	bridge := machine.NewBridge(t, "br-shop", prefix)

	sc.Phase("booting the machines")
	s := &shop{vms: map[string]*machine.Machine{}}
	s.backends = machine.Boot(t, image, bridge, logDir, machine.Spec{Name: "backends", Host: backendsHost, BindRO: binds})
	for _, svc := range services {
		s.vms[svc.id] = machine.Boot(t, image, bridge, logDir, machine.Spec{Name: svc.id, Host: svc.host, BindRO: binds})
	}

	sc.Phase("installing")
	// Step 2: Redis and NATS on the backends VM, on its address, Redis with
	// a password; then sentry.
	password := "vm-e2e-redis-password"
	b := s.backends
	redisConf := string(b.ReadFile(t, "etc/redis/redis.conf"))
	redisConf = strings.Replace(redisConf, "bind 127.0.0.1 -::1", "bind "+b.IP, 1)
	redisConf += "\nrequirepass " + password + "\n"
	b.WriteFile(t, "etc/redis/redis.conf", redisConf, 0o640)
	b.WriteFile(t, "etc/nats-server.conf", "host: "+b.IP+"\nport: 4222\n", 0o644)
	b.MustExec(t, "systemctl", "enable", "--now", "redis-server", "nats-server")
	b.MustExec(t, append(installer, "sentry")...)
	b.MustExec(t, "systemctl", "start", "daprshop-sentry")
	ca := waitFile(t, b, "var/lib/daprshop-sentry/ca.crt")

	// Steps 3 to 7 on every service VM.
	for _, svc := range services {
		vm := s.vms[svc.id]
		vm.WriteFile(t, "root/ca.crt", string(ca), 0o644)
		vm.MustExec(t, append(installer, "--ca-cert", "/root/ca.crt", svc.id)...)
		vm.WriteFile(t, "etc/daprshop/secrets/redis-password", password, 0o600)
	}
	for _, svc := range services {
		s.vms[svc.id].MustExec(t, "systemctl", "enable", "--now", "daprshop@"+svc.id)
	}
	sc.Phase("waiting for the apps")
	for _, svc := range services {
		vm := s.vms[svc.id]
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		err := proc.WaitUntil(ctx, func(context.Context) error {
			status, _, err := get(vm, fmt.Sprintf("http://127.0.0.1:%d/readyz", appPort(svc.id)))
			if err == nil && status != http.StatusOK {
				err = fmt.Errorf("/readyz answered %d", status)
			}
			return err
		})
		cancel()
		if err != nil {
			journal, _ := vm.Exec("journalctl", "--no-pager", "-n", "30", "-u", "daprshop@"+svc.id, "-u", "daprshop-daprd@"+svc.id)
			t.Fatalf("%s not ready: %v\n%s", svc.id, err, journal)
		}
	}
	return s
}

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

// appPort is the port the service's app listens on, as its env file says.
func appPort(id string) int {
	return map[string]int{"order": 8080, "inventory": 8081, "notification": 8082}[id]
}

// get sends a GET from inside vm and returns the status and body.
func get(vm *machine.Machine, url string) (int, []byte, error) {
	return call(vm, http.MethodGet, url, "")
}

// call sends a request from inside vm, with a JSON body when body is set.
func call(vm *machine.Machine, method, url, body string) (int, []byte, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := vm.HTTPClient().Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

// TestOrderAcrossMachines installs daprshop on its machines and places an
// order: confirmed, readable, its stock reserved on the inventory VM, and
// notified by the notification VM; every unit active and none failed.
func TestOrderAcrossMachines(t *testing.T) {
	sc := run.Scenario(t, "vms: an order across machines, every process started by systemd")
	s := install(t, sc)
	order, inventory, notification := s.vms["order"], s.vms["inventory"], s.vms["notification"]

	sc.Phase("ordering")
	status, body, err := get(inventory, "http://127.0.0.1:8081/items/SKU-1")
	if err != nil || status != http.StatusOK {
		t.Fatalf("GET /items/SKU-1 on the inventory VM: %d %s %v", status, body, err)
	}
	var before struct{ Available, Reserved int }
	if err := json.Unmarshal(body, &before); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	status, body, err = call(order, http.MethodPost, "http://127.0.0.1:8080/orders", `{"customerId":"c-vm","items":[{"sku":"SKU-1","quantity":2}]}`)
	sc.Request(time.Since(start), err != nil || status >= 500)
	var placed struct{ ID, Status string }
	_ = json.Unmarshal(body, &placed)
	sc.Check("order confirmed across machines", err == nil && status == http.StatusCreated && placed.Status == "confirmed",
		"201 confirmed", fmt.Sprintf("%d %s %v", status, body, err))

	status, body, _ = get(order, "http://127.0.0.1:8080/orders/"+placed.ID)
	sc.Check("order readable", status == http.StatusOK && strings.Contains(string(body), `"confirmed"`), "200 confirmed", fmt.Sprintf("%d %s", status, body))

	_, body, _ = get(inventory, "http://127.0.0.1:8081/items/SKU-1")
	var after struct{ Available, Reserved int }
	_ = json.Unmarshal(body, &after)
	sc.Check("stock reserved once and conserved", after.Reserved == before.Reserved+2 && after.Available+after.Reserved == before.Available+before.Reserved,
		fmt.Sprintf("reserved %d, total %d", before.Reserved+2, before.Available+before.Reserved), fmt.Sprintf("reserved %d, total %d", after.Reserved, after.Available+after.Reserved))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	notified := proc.WaitUntil(ctx, func(context.Context) error {
		_, body, err := get(notification, "http://127.0.0.1:8082/notifications?customerId=c-vm")
		if err == nil && !strings.Contains(string(body), placed.ID) {
			err = fmt.Errorf("not yet: %s", body)
		}
		return err
	})
	sc.Check("order notified by the notification VM", notified == nil, "recorded as sent within 30s", fmt.Sprint(notified))

	sc.Phase("asking systemd")
	for _, vm := range append([]*machine.Machine{s.backends}, order, inventory, notification) {
		failed, _ := vm.Exec("systemctl", "--failed", "--no-legend", "--plain")
		sc.Check("no unit failed on "+vm.Name, strings.TrimSpace(failed) == "", "none", failed)
	}
	for _, svc := range services {
		units := []string{"daprshop@" + svc.id, "daprshop-daprd@" + svc.id}
		state, _ := s.vms[svc.id].Exec(append([]string{"systemctl", "is-active"}, units...)...)
		sc.Check("app and sidecar active on "+svc.id, strings.Fields(state) != nil && strings.Count(state, "active\n") == 2 && !strings.Contains(state, "inactive"),
			"active active", strings.Join(strings.Fields(state), " "))
	}
}
