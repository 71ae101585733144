package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/daprshop/daprshop/internal/config"
	"github.com/daprshop/daprshop/internal/natstrust"
	"github.com/daprshop/daprshop/tests/harness/system"
)

// TestNATSTrust makes a deployment's NATS keys with the command an operator
// runs (`notification nats-trust DIR`), starts nats-server with the
// configuration it wrote, and connects as notification: it may publish to
// a customer's subject and nothing else, nor subscribe.
func TestNATSTrust(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nats-trust")
	var said strings.Builder
	if err := command([]string{"nats-trust", dir}, &said); err != nil {
		t.Fatal(err)
	}
	auth := system.LoadNATSAuth(t, dir)
	if !strings.Contains(said.String(), auth.Account) {
		t.Errorf("nats-trust does not name the account it made:\n%s", said.String())
	}
	server := system.StartNATS(t, system.LoadEnv(t).LogDir(t), auth)

	refusals := system.NewNATSRefusals()
	nc, err := nats.Connect(server.URL, nats.UserCredentials(auth.NotificationCreds), refusals.Option())
	if err != nil {
		t.Fatalf("connect as notification: %v", err)
	}
	t.Cleanup(nc.Close)
	for _, tc := range []struct {
		what    string
		act     func() error
		allowed bool
	}{
		{"publish to notifications.c-1", func() error { return nc.Publish("notifications.c-1", []byte("{}")) }, true},
		{"publish to orders", func() error { return nc.Publish("orders", []byte("{}")) }, false},
		{"subscribe to notifications.c-1", func() error { _, err := nc.SubscribeSync("notifications.c-1"); return err }, false},
	} {
		if refused := refusals.Refusal(t, nc, time.Second, tc.act); (refused == nil) != tc.allowed {
			t.Errorf("%s: got refusal %v, want allowed %v", tc.what, refused, tc.allowed)
		}
	}

	// The keys are made once: a second run over them would lock out every
	// client of the first, so it is refused and changes nothing.
	before, err := os.ReadFile(auth.NotificationCreds)
	if err != nil {
		t.Fatal(err)
	}
	if err := command([]string{"nats-trust", auth.Dir}, &strings.Builder{}); !errors.Is(err, natstrust.ErrExists) {
		t.Errorf("nats-trust over existing keys: got %v, want ErrExists", err)
	}
	if after, _ := os.ReadFile(auth.NotificationCreds); string(after) != string(before) {
		t.Error("nats-trust over existing keys changed them")
	}
	if mode := fileMode(t, filepath.Join(auth.Dir, natstrust.SigningKeyFile)); mode != 0o600 {
		t.Errorf("the signing key's mode: got %v, want 0600", mode)
	}
	for _, args := range [][]string{{"nats-trust"}, {"nats-trust", "a", "b"}, {"serve"}} {
		if err := command(args, &strings.Builder{}); err == nil || !strings.Contains(err.Error(), "usage") {
			t.Errorf("notification %v: got %v, want its usage", args, err)
		}
	}
}

func fileMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// TestNotificationNeedsItsNATSCredentials: notification fails closed
// without the credentials NATS authenticates it with and the account it
// issues customers' in, unless INSECURE_NO_TOKENS=true.
func TestNotificationNeedsItsNATSCredentials(t *testing.T) {
	secure := map[string]string{"DAPR_API_TOKEN": "t", "APP_API_TOKEN": "t", "AUTH_ISSUER": "http://127.0.0.1:1"}
	_, err := loadConfig(func(key string) string { return secure[key] })
	for _, name := range []string{"NATS_CREDENTIALS", "NATS_ACCOUNT", "NATS_ACCOUNT_SIGNING_KEY"} {
		if err == nil || !strings.Contains(err.Error(), name+" is not set") {
			t.Errorf("without NATS credentials: got %v, want %s asked for", err, name)
		}
	}
	// One of them set: each missing one is still named.
	secure["NATS_ACCOUNT"] = "ADAPRSHOP\n"
	_, err = loadConfig(func(key string) string { return secure[key] })
	for _, name := range []string{"NATS_CREDENTIALS", "NATS_ACCOUNT_SIGNING_KEY"} {
		if err == nil || !strings.Contains(err.Error(), name+" is not set") {
			t.Errorf("with NATS_ACCOUNT alone: got %v, want %s asked for", err, name)
		}
	}
	secure["NATS_CREDENTIALS"] = "/run/nats.creds"
	secure["NATS_ACCOUNT_SIGNING_KEY"] = "/run/nats-account-signing-key"
	if cfg, err := loadConfig(func(key string) string { return secure[key] }); err != nil || cfg.NATSAccount != "ADAPRSHOP" {
		t.Errorf("with them: got %q, %v; want the account without its newline", cfg.NATSAccount, err)
	}
	insecure := map[string]string{config.EnvInsecureNoTokens: "true"}
	if _, err := loadConfig(func(key string) string { return insecure[key] }); err != nil {
		t.Errorf("in development: %v", err)
	}
}
