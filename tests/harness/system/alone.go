package system

import (
	"context"
	"net/http"
	"testing"

	sdk "github.com/dapr/go-sdk/client"

	"github.com/daprshop/daprshop/internal/daprclient"
	"github.com/daprshop/daprshop/tests/harness/repo"
)

// Sidecar is one app's daprd running without its app, on the run file's
// resources and a Redis of its own: what a test of the app's Dapr adapter
// talks to, the way the app would.
type Sidecar struct {
	// GRPCAddr is the sidecar's gRPC API, which the Go SDK uses, with
	// APIToken.
	GRPCAddr string
	APIToken string
	// Redis holds the state and the streams of pub/sub.
	Redis *Redis
	// AppEnv is the environment the run file gives the app.
	AppEnv map[string]string
}

// StartSidecarAlone starts a Redis and the sidecar of the run file's app
// appID, with its components, configuration and resiliency, but no app
// channel, and waits until the sidecar is healthy. Both stop when the test
// ends. Tests that call it run inside a network namespace (Main).
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
	s := StartSidecar(t, env, *app, Options{withoutApp: true}, logDir, Backends{Components: RedisEnv(redis, redis)})
	ctx, cancel := context.WithTimeout(context.Background(), ReadyTimeout)
	defer cancel()
	if err := WaitHTTP(ctx, s.DaprURL+"/v1.0/healthz", http.StatusNoContent, s.Daprd); err != nil {
		t.Fatalf("sidecar of %s not ready: %v", appID, err)
	}
	return &Sidecar{GRPCAddr: s.DaprGRPCAddr, APIToken: s.APIToken, Redis: redis, AppEnv: app.Env}
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
