package commands

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/daprshop/daprshop/internal/natstrust"
	"github.com/daprshop/daprshop/tests/harness/repo"
)

// TestMakeNATSTrust runs `make nats-trust` as an operator would (into an
// OUT of its own, never the checkout's keys): it writes a deployment's
// NATS keys, and a second run refuses to replace them, changing nothing.
func TestMakeNATSTrust(t *testing.T) {
	root := repo.Root(t)
	out := t.TempDir()
	runMake(t, root, 2*time.Minute, nil, "nats-trust", "OUT="+out)
	dir := filepath.Join(out, "nats-trust")
	var made []string
	for _, name := range []string{natstrust.ServerConfigFile, natstrust.CredentialsFile, natstrust.SigningKeyFile, natstrust.AccountFile} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || len(data) == 0 {
			t.Fatalf("make nats-trust wrote no %s: %v", name, err)
		}
		made = append(made, string(data))
	}

	stderr, err := tryMake(root, 2*time.Minute, nil, "nats-trust", "OUT="+out)
	if err == nil || !strings.Contains(stderr, "is not empty") {
		t.Errorf("a second make nats-trust: got %v, %q; want it refused", err, stderr)
	}
	creds, _ := os.ReadFile(filepath.Join(dir, natstrust.CredentialsFile))
	if string(creds) != made[1] {
		t.Error("a second make nats-trust replaced notification's credentials")
	}
}
