// Package build builds daprshop's services, the one way everything that
// needs them does: make (make services, make run), the test harness, and
// the container images (make images), so that what is tested is what
// ships. Its command, tools/build/cmd/build, is what make runs.
package build

import (
	"context"
	"fmt"
	"os"
	"os/exec"
)

// Services are the services, each a main package under services/.
var Services = []string{"order", "inventory", "notification"}

// Flags and Env build a service's binary: static, for Linux, with no paths
// or version-control stamps that would make two builds of the same source
// differ (an image's digest depends on them). services/Dockerfile builds
// the same way, which tools/k8s checks.
var (
	Flags = []string{"-trimpath", "-buildvcs=false"}
	Env   = []string{"CGO_ENABLED=0", "GOOS=linux"}
)

// Build builds services/SVC for every svc of svcs (all of Services when
// none) into dir/SVC, from the repository at root, in one go build so that
// the links run in parallel. The go command's output goes to stderr.
func Build(ctx context.Context, root, dir string, svcs ...string) error {
	if len(svcs) == 0 {
		svcs = Services
	}
	args := append([]string{"build"}, Flags...)
	args = append(args, "-o", dir+string(os.PathSeparator))
	for _, svc := range svcs {
		args = append(args, "./services/"+svc)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), Env...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %v: %w", svcs, err)
	}
	return nil
}
