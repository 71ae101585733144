package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/daprshop/daprshop/internal/config"
	"github.com/daprshop/daprshop/internal/config/configtest"
	"github.com/daprshop/daprshop/tests/harness/proc"
	"github.com/daprshop/daprshop/tests/harness/system"
)

// TestNATSCredentialsAreNotLogged connects with a password in the URL, has
// the connection drop and come back, and wants the password in no log line.
func TestNATSCredentialsAreNotLogged(t *testing.T) {
	server := system.StartNATS(t, system.LoadEnv(t).LogDir(t), nil)
	var logs syncBuffer
	nc, _, err := connectNATS("nats://daprshop:s3cret-password@"+server.Addr, "", slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)

	server.Proc.Kill()
	server.Proc.Restart()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := proc.WaitUntil(ctx, func(context.Context) error {
		if !strings.Contains(logs.String(), "nats reconnected") {
			return errors.New("not reconnected yet")
		}
		return nil
	}); err != nil {
		t.Fatalf("no reconnection logged: %v; logs:\n%s", err, logs.String())
	}
	if strings.Contains(logs.String(), "s3cret-password") {
		t.Errorf("the NATS password is in the logs:\n%s", logs.String())
	}

	_, err = loadConfig(func(key string) string {
		return map[string]string{"NATS_URL": "nats://daprshop:s3cret-password@[::1", config.EnvInsecureNoTokens: "true"}[key]
	})
	if err == nil || !strings.Contains(err.Error(), "NATS_URL") || strings.Contains(err.Error(), "s3cret-password") {
		t.Errorf("NATS_URL malformed: got %v, want an error without the password", err)
	}
}

// syncBuffer is a bytes.Buffer that the NATS client's goroutines may log
// into while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestDeadLetterRetention(t *testing.T) {
	configtest.CheckDuration(t, "DEAD_LETTER_RETENTION", DefaultDeadLetterRetention, func(getenv func(string) string) (time.Duration, error) {
		cfg, err := loadConfig(getenv)
		return cfg.DeadLetterRetention, err
	})
}

// Notification issues customers NATS credentials with an account and one
// of its signing keys: one without the other is a mistake, refused.
func TestNATSAccountSettingsComeInPairs(t *testing.T) {
	for _, vars := range []map[string]string{
		{"NATS_ACCOUNT": "ADAPRSHOP"},
		{"NATS_ACCOUNT_SIGNING_KEY": "/etc/daprshop/secrets/notification/nats-account-signing-key"},
	} {
		vars[config.EnvInsecureNoTokens] = "true"
		if _, err := loadConfig(func(key string) string { return vars[key] }); err == nil || !strings.Contains(err.Error(), "NATS_ACCOUNT") {
			t.Errorf("%v: got %v, want both settings asked for", vars, err)
		}
	}
}
