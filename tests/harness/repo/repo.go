// Package repo says where things are in the daprshop repository: its root,
// the Dapr version tools/daprd pins, and the topology the multi-app run file
// (deploy/selfhosted/dapr.yaml) describes. It starts nothing, so that every
// test tree can use it, the Kubernetes checks too.
package repo

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Find finds the repository root from the working directory.
func Find() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(data), "module github.com/daprshop/daprshop\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the daprshop repository")
		}
		dir = parent
	}
}

// Root is Find for a test: it fails the test outside the repository.
func Root(t testing.TB) string {
	t.Helper()
	root, err := Find()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

var pinnedRe = regexp.MustCompile(`(?m)^require github\.com/dapr/dapr (v\S+)$`)

// PinnedDaprVersion is the dapr version tools/daprd builds by default.
func PinnedDaprVersion(root string) (string, error) {
	data, err := os.ReadFile(filepath.Join(root, "tools", "daprd", "go.mod"))
	if err != nil {
		return "", err
	}
	m := pinnedRe.FindSubmatch(data)
	if m == nil {
		return "", errors.New("tools/daprd/go.mod does not require github.com/dapr/dapr")
	}
	return string(m[1]), nil
}
