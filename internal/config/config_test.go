package config_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/daprshop/daprshop/internal/config"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// tokens are what every service needs to start outside development.
var tokens = map[string]string{"DAPR_API_TOKEN": "t1", "APP_API_TOKEN": "t2", "AUTH_ISSUER": "https://id.example.com"}

func TestLoadBaseDefaults(t *testing.T) {
	b, err := config.LoadBase(env(tokens), 8081, "statestore")
	if err != nil {
		t.Fatal(err)
	}
	want := config.Base{
		HTTPAddr:        "127.0.0.1:8081",
		DaprGRPCAddr:    "127.0.0.1:50001",
		DaprHTTPAddr:    "127.0.0.1:3500",
		DaprAPIToken:    "t1",
		AppAPIToken:     "t2",
		AuthIssuer:      "https://id.example.com",
		AuthAudience:    "daprshop",
		StateStore:      "statestore",
		ShutdownTimeout: 20 * time.Second,
		LogLevel:        slog.LevelInfo,
	}
	if b != want {
		t.Errorf("got %+v, want %+v", b, want)
	}
}

func TestLoadBaseFromEnvironment(t *testing.T) {
	b, err := config.LoadBase(env(map[string]string{
		"APP_HOST": "127.0.0.2", "APP_PORT": "9000", "DAPR_GRPC_PORT": "50010", "DAPR_HTTP_PORT": "3600",
		"DAPR_API_TOKEN": "t1", "APP_API_TOKEN": "t2", "STATE_STORE": "other",
		"SHUTDOWN_TIMEOUT": "5s", "LOG_LEVEL": "debug", "PPROF_ADDR": "127.0.0.1:6060",
		"AUTH_ISSUER": "https://id.example.com/realms/shop", "AUTH_AUDIENCE": "shop",
	}), 8081, "statestore")
	if err != nil {
		t.Fatal(err)
	}
	if b.HTTPAddr != "127.0.0.2:9000" || b.DaprGRPCAddr != "127.0.0.1:50010" || b.DaprHTTPAddr != "127.0.0.1:3600" ||
		b.DaprAPIToken != "t1" || b.AppAPIToken != "t2" || b.StateStore != "other" ||
		b.ShutdownTimeout != 5*time.Second || b.LogLevel != slog.LevelDebug || b.ProfilerAddr != "127.0.0.1:6060" ||
		b.AuthIssuer != "https://id.example.com/realms/shop" || b.AuthAudience != "shop" {
		t.Errorf("got %+v", b)
	}
}

func TestProfilerListensOnLoopbackOnly(t *testing.T) {
	for _, addr := range []string{":6060", "0.0.0.0:6060", "[::]:6060", "192.0.2.11:6060", "example.internal:6060"} {
		if _, err := config.LoadBase(env(map[string]string{"PPROF_ADDR": addr}), 8081, "statestore"); err == nil || !strings.Contains(err.Error(), "PPROF_ADDR") {
			t.Errorf("PPROF_ADDR=%s: got %v, want it refused: the profiler would listen beyond loopback", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:6060", "[::1]:6060", "localhost:6060"} {
		if _, err := config.LoadBase(env(map[string]string{"PPROF_ADDR": addr, "DAPR_API_TOKEN": "t1", "APP_API_TOKEN": "t2", "AUTH_ISSUER": "https://id.example.com"}), 8081, "statestore"); err != nil {
			t.Errorf("PPROF_ADDR=%s: got %v, want it taken", addr, err)
		}
	}
}

func TestIssuerIsAnHTTPURL(t *testing.T) {
	for _, issuer := range []string{"id.example.com", "ftp://id.example.com", "https://", "https://user:pw@id.example.com", "https://id.example.com/?realm=shop", "https://id.example.com/#x"} {
		if _, err := config.LoadBase(env(map[string]string{"AUTH_ISSUER": issuer, "DAPR_API_TOKEN": "t1", "APP_API_TOKEN": "t2"}), 8081, "statestore"); err == nil || !strings.Contains(err.Error(), "AUTH_ISSUER") {
			t.Errorf("AUTH_ISSUER=%s: got %v, want it refused", issuer, err)
		}
	}
}

func TestLoadBaseReportsEveryBadValue(t *testing.T) {
	_, err := config.LoadBase(env(map[string]string{
		"APP_PORT": "http", "DAPR_GRPC_PORT": "70000", "SHUTDOWN_TIMEOUT": "-1s", "LOG_LEVEL": "loud",
		"PPROF_ADDR": "6060", "AUTH_ISSUER": "id.example.com",
	}), 8081, "statestore")
	if err == nil {
		t.Fatal("got nil, want an error")
	}
	for _, key := range []string{"APP_PORT", "DAPR_GRPC_PORT", "SHUTDOWN_TIMEOUT", "LOG_LEVEL", "PPROF_ADDR", "AUTH_ISSUER"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error %q does not name %s", err, key)
		}
	}
}

// A service fails closed: without its tokens or its issuer of clients'
// tokens it does not start, and says which are missing and how to run
// without them in development.
func TestLoadBaseRefusesToStartWithoutTokens(t *testing.T) {
	for _, tc := range []struct {
		name    string
		vars    map[string]string
		missing []string
	}{
		{"none", nil, []string{"DAPR_API_TOKEN", "APP_API_TOKEN", "AUTH_ISSUER"}},
		{"no app token", map[string]string{"DAPR_API_TOKEN": "t1", "AUTH_ISSUER": "https://id.example.com"}, []string{"APP_API_TOKEN"}},
		{"no API token", map[string]string{"APP_API_TOKEN": "t2", "AUTH_ISSUER": "https://id.example.com"}, []string{"DAPR_API_TOKEN"}},
		{"no issuer of clients' tokens", map[string]string{"DAPR_API_TOKEN": "t1", "APP_API_TOKEN": "t2"}, []string{"AUTH_ISSUER"}},
		{"development setting misspelled", map[string]string{"INSECURE_NO_TOKENS": "yes"}, []string{"INSECURE_NO_TOKENS"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.LoadBase(env(tc.vars), 8081, "statestore")
			if err == nil {
				t.Fatal("got nil, want the service refused to start")
			}
			for _, key := range tc.missing {
				if !strings.Contains(err.Error(), key) {
					t.Errorf("error %q does not name %s", err, key)
				}
			}
		})
	}

	b, err := config.LoadBase(env(map[string]string{"INSECURE_NO_TOKENS": "true"}), 8081, "statestore")
	if err != nil || !b.InsecureNoTokens || len(b.MissingTokens()) != 3 {
		t.Errorf("INSECURE_NO_TOKENS=true: got %+v, %v; want it to start, and say both tokens and the issuer are missing", b, err)
	}
}
