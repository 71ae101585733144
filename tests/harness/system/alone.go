package system

import (
	"cmp"
	"fmt"
	"os"

	"context"
	sdk "github.com/dapr/go-sdk/client"

	"github.com/daprshop/daprshop/internal/daprclient"
	"github.com/daprshop/daprshop/tests/harness/netns"
	"github.com/daprshop/daprshop/tests/harness/repo"
	"net/http"
	"testing"
)

// Sidecar is one app's daprd running without its app, on the run file's
// resources and a Redis of its own: what a test of the app's Dapr adapter
// talks to, the way the app would.
type Sidecar struct {
	// GRPCAddr is the sidecar's gRPC API, which the Go SDK uses.
	GRPCAddr string
	// HTTPURL is the sidecar's HTTP API.
	HTTPURL string
	// Redis holds the state and the streams of pub/sub.
	Redis *Redis
}

// StartSidecarAlone starts a Redis and the sidecar of the run file's app
// appID, with its components, configuration and resiliency, but no app
// channel, and waits until the sidecar is healthy. Both stop when the test
// ends. Tests that call it run inside a network namespace (MainInNetns).
func StartSidecarAlone(t testing.TB, appID string) *Sidecar {
	t.Helper()
	env := LoadEnv(t)
	var app *repo.RunApp
	for _, a := range env.Apps(t) {
		if a.AppID == appID {
			app = &a
		}
	}
	if app == nil {
		t.Fatalf("no app %q in %s", appID, env.RunFile)
	}
	logDir := env.LogDir(t)
	redis := StartRedis(t, logDir, "redis")
	s := StartSidecar(t, env, *app, Options{withoutApp: true}, logDir, Backends{Redis: redis.Addr, PubSubRedis: redis.Addr})
	ctx, cancel := context.WithTimeout(context.Background(), ReadyTimeout)
	defer cancel()
	if err := WaitHTTP(ctx, s.DaprURL+"/v1.0/healthz", http.StatusNoContent, s.Daprd); err != nil {
		t.Fatalf("sidecar of %s not ready: %v", appID, err)
	}
	return &Sidecar{GRPCAddr: s.DaprGRPCAddr, HTTPURL: s.DaprURL, Redis: redis}
}

// Client returns a new client of the sidecar, made as the apps make theirs
// (internal/daprclient), and closed when the test ends: each client is one
// replica of the app, for tests that race two of them.
func (s *Sidecar) Client(t testing.TB) sdk.Client {
	t.Helper()
	client, err := daprclient.New(s.GRPCAddr, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	return client
}

// MainOptions say what a test package's TestMain prepares (Main).
type MainOptions struct {
	// Name starts every line TestMain prints, e.g. "e2e".
	Name string
	// Services builds the services first (BuildServices), for tests that
	// start the apps.
	Services bool
	// Preflight starts the daprd under test once alone, inside the
	// namespace, before any test: a daprd that cannot start here is one
	// error, not the same failure in every test.
	Preflight bool
	// After runs inside the namespace once the tests have run (writing
	// the report, say); its error fails the run.
	After func() error
	// Prepare runs before the namespace is entered, with the repository's
	// root: what needs the network (a machine image, say).
	Prepare func(root string) error
	// Privileged enters a network and mount namespace as root, without a
	// user namespace, for tests that boot machines (netns.ReexecPrivileged).
	Privileged bool
}

// Main is the TestMain of a package whose tests start daprd.
// Outside the network namespace it checks the daprd under test, so that a
// wrong DAPRD is one error in seconds, builds what opts ask for (nothing
// inside the namespace reaches the network), and runs the test binary again
// inside a namespace of its own. Inside, it runs the tests.
//
//	func TestMain(m *testing.M) { os.Exit(system.Main(m, system.MainOptions{Name: "hosts", Services: true})) }
func Main(m *testing.M, opts MainOptions) int {
	fail := func(code int, err error) int {
		fmt.Fprintf(os.Stderr, "%s: %v\n", cmp.Or(opts.Name, "test"), err)
		return code
	}
	root, err := repo.Find()
	if err != nil {
		return fail(2, err)
	}
	if netns.Inside() {
		if opts.Preflight {
			daprd, err := DaprdPath(root)
			if err == nil {
				err = Preflight(root, daprd)
			}
			if err != nil {
				return fail(2, err)
			}
		}
		code := m.Run()
		if opts.After != nil {
			if err := opts.After(); err != nil {
				return fail(1, err)
			}
		}
		return code
	}
	daprd, version, err := CheckDaprd(root)
	if err != nil {
		return fail(2, err)
	}
	fmt.Fprintf(os.Stderr, "%s: daprd %s (%s)\n", cmp.Or(opts.Name, "test"), version, daprd)
	if opts.Services {
		remove, err := BuildServices()
		if err != nil {
			return fail(1, err)
		}
		defer remove()
	}
	if opts.Prepare != nil {
		if err := opts.Prepare(root); err != nil {
			return fail(1, err)
		}
	}
	if opts.Privileged {
		return netns.ReexecPrivileged()
	}
	return netns.Reexec()
}

// MainInNetns is Main with nothing built: for tests of an app's Dapr
// adapter (StartSidecarAlone).
func MainInNetns(m *testing.M) int { return Main(m, MainOptions{}) }
