package system

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/daprshop/daprshop/internal/natstrust"
)

// NATSAuth is what a nats-server in JWT mode (NATS's decentralized
// authentication) and its clients hold, made the way an operator makes it,
// by `notification nats-trust DIR` (natstrust): the server trusts an
// operator, which signed daprshop's account, which lists a signing key.
// Notification signs its customers' credentials with that key; its own
// user may publish to every customer's subject, and the tests' observer
// may subscribe to them all.
type NATSAuth struct {
	// Dir is where nats-trust wrote its files, laid out as an operator
	// gets them (deploy/selfhosted/install.sh --nats-trust takes it).
	Dir string
	// Account is the account's public key ("A..."), and SigningKey the
	// file holding its signing key's seed: what notification signs
	// customers' credentials with (NATS_ACCOUNT, NATS_ACCOUNT_SIGNING_KEY).
	Account, SigningKey string
	// NotificationCreds is the credentials file (a user JWT and its seed)
	// notification connects with (NATS_CREDENTIALS); ObserverCreds the
	// tests' own, which may subscribe to notifications.>.
	NotificationCreds, ObserverCreds string
	// ServerConfig is the part of nats-server's configuration that makes
	// it trust the operator and know the account.
	ServerConfig string
}

// NewNATSAuth makes fresh keys with binDir's notification, in a directory
// the test removes, and credentials for the tests' observer signed with
// them.
func NewNATSAuth(t testing.TB, binDir string) *NATSAuth {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "nats-trust")
	out, err := exec.Command(filepath.Join(binDir, "notification"), "nats-trust", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("notification nats-trust: %v\n%s", err, out)
	}
	return LoadNATSAuth(t, dir)
}

// LoadNATSAuth reads the keys notification nats-trust made in dir, and
// signs credentials for the tests' observer with them.
func LoadNATSAuth(t testing.TB, dir string) *NATSAuth {
	t.Helper()
	read := func(name string) []byte {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("NATS keys: %v (notification nats-trust makes them)", err)
		}
		return b
	}
	a := &NATSAuth{
		Dir:               dir,
		Account:           strings.TrimSpace(string(read(natstrust.AccountFile))),
		SigningKey:        filepath.Join(dir, natstrust.SigningKeyFile),
		NotificationCreds: filepath.Join(dir, natstrust.CredentialsFile),
		ServerConfig:      string(read(natstrust.ServerConfigFile)),
		ObserverCreds:     filepath.Join(t.TempDir(), "observer.creds"),
	}
	signer, err := nkeys.FromSeed(bytes.TrimSpace(read(natstrust.SigningKeyFile)))
	if err != nil {
		t.Fatalf("%s: %v", natstrust.SigningKeyFile, err)
	}
	creds, err := natstrust.Credentials(signer, a.Account, "observer", func(p *jwt.UserPermissionLimits) {
		p.Sub.Allow.Add("notifications.>")
		p.Pub.Deny.Add(">")
	})
	if err != nil {
		t.Fatalf("the observer's NATS credentials: %v", err)
	}
	if err := os.WriteFile(a.ObserverCreds, creds, 0o600); err != nil {
		t.Fatal(err)
	}
	return a
}

// NATSRefusals collects what nats-server refuses a connection after it
// connected (a permissions violation arrives on its own, not as the
// result of the call that caused it): connect with Option, then ask
// Refusal of each action.
type NATSRefusals struct{ errs chan error }

// NewNATSRefusals returns an empty NATSRefusals.
func NewNATSRefusals() *NATSRefusals { return &NATSRefusals{errs: make(chan error, 16)} }

// Option has the connection report its refusals to r.
func (r *NATSRefusals) Option() nats.Option {
	return nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case r.errs <- err:
		default: // nobody asks for more than the buffer holds
		}
	})
}

// Refusal does act on nc, has the server see it (a flush), and returns the
// server's refusal of it, or nil when none came within wait.
func (r *NATSRefusals) Refusal(t testing.TB, nc *nats.Conn, wait time.Duration, act func() error) error {
	t.Helper()
	if err := act(); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-r.errs:
		return err
	case <-time.After(wait):
		return nil
	}
}
