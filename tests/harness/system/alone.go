package system

import (
	"context"
	"maps"
	"net/http"
	"testing"

	sdk "github.com/dapr/go-sdk/client"

	"github.com/daprshop/daprshop/internal/daprclient"
)

// Sidecar is one app's daprd running without its app, on the components
// and servers of the backend profile knobs.Backend selects, its own: what a
// test of the app's Dapr adapter talks to, the way the app would.
type Sidecar struct {
	// GRPCAddr is the sidecar's gRPC API, which the Go SDK uses, with
	// APIToken.
	GRPCAddr string
	APIToken string
	// Servers are the profile's: Store and Broker look past Dapr.
	Servers
	// AppEnv is the environment the app gets: the run file's, with the
	// profile's over it (Servers.Env).
	AppEnv map[string]string
}

// RedisOnly returns the sidecar's Redis, or skips test t, saying why, when
// the profile has none: a test of what Redis itself does.
func (s *Sidecar) RedisOnly(t testing.TB, why string) *Redis {
	t.Helper()
	if s.Redis == nil {
		t.Skipf("not on this backend profile: %s", why)
	}
	return s.Redis
}

// StartSidecarAlone starts the backend profile's servers and the sidecar
// of the run file's app appID, with its components, configuration and
// resiliency, but no app channel, and waits until the sidecar is healthy.
// All stop when the test ends. Tests that call it run inside a network
// namespace (Main, with MainOptions.Backend).
func StartSidecarAlone(t testing.TB, appID string) *Sidecar {
	t.Helper()
	servers := StartServers(t)
	s := StartDaprd(t, appID, servers, 0)
	ctx, cancel := context.WithTimeout(context.Background(), ReadyTimeout)
	defer cancel()
	if err := WaitHTTP(ctx, s.DaprURL+"/v1.0/healthz", http.StatusNoContent, s.Daprd); err != nil {
		t.Fatalf("sidecar of %s not ready: %v", appID, err)
	}
	appEnv := maps.Clone(LoadEnv(t).App(t, appID).Env)
	maps.Copy(appEnv, servers.Env)
	return &Sidecar{GRPCAddr: s.DaprGRPCAddr, APIToken: s.APIToken, Servers: servers, AppEnv: appEnv}
}

// StartServers starts the servers of the backend profile knobs.Backend
// selects, for sidecars started alone; they stop when the test ends.
func StartServers(t testing.TB) Servers {
	t.Helper()
	return selectedProfile(t).Start(t, LoadEnv(t).LogDir(t), Options{withoutApp: true})
}

// StartDaprd starts the sidecar of the run file's app appID on servers, as
// StartSidecarAlone does, with its internal gRPC API on internalPort (0: a
// free one), and returns at once: a test of how a sidecar starts. It stops
// when the test ends (or at its Daprd's Shutdown), and its shutdown fails
// the test unless the profile's known issue explains it.
func StartDaprd(t testing.TB, appID string, servers Servers, internalPort int) *App {
	t.Helper()
	env, profile := LoadEnv(t), selectedProfile(t)
	opts := Options{withoutApp: true, internalGRPCPort: internalPort}
	if profile.Dir != "" {
		opts.ResourcesPath = profile.Resources(t, env.Root)
	}
	s := StartSidecar(t, env, env.App(t, appID), opts, env.LogDir(t), Backends{Components: servers.Env})
	// Before the process's own cleanup, which would fail the test on any
	// unclean shutdown: the profile's known issue is logged as what it is.
	t.Cleanup(func() {
		if err := shutdown(s.Daprd); err != nil {
			if profile.KnownShutdownFailures([]string{err.Error()}) {
				t.Logf("%v: known issue: %s", err, profile.KnownShutdownIssue)
			} else {
				t.Error(err)
			}
		}
	})
	return s
}

// Client returns a new client of the sidecar, made as the apps make theirs
// (internal/daprclient), and closed when the test ends: each client is one
// replica of the app, for tests that race two of them.
func (s *Sidecar) Client(t testing.TB) sdk.Client {
	t.Helper()
	client, err := daprclient.New(s.GRPCAddr, s.APIToken)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	return client
}
