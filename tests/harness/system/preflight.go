package system

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/daprshop/daprshop/tests/harness/proc"
)

// preflightTimeout bounds how long a bare sidecar may take to be healthy: a
// working daprd is in about a second.
const preflightTimeout = 20 * time.Second

// Preflight starts daprd once on its own, with no app and no components,
// and waits for it to be healthy, so that a daprd that cannot run here (a
// build without components, another architecture's binary, a crash at
// start) is one error naming the binary before the suite starts, not the
// same failure in every scenario.
func Preflight(root, daprd string) error {
	logDir := filepath.Join(logRoot(root), "preflight")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}
	resources, err := os.MkdirTemp("", "daprshop-preflight-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(resources)
	ports, err := proc.FreePorts(4)
	if err != nil {
		return err
	}
	p, err := proc.Launch(proc.Spec{
		Name: "daprd-preflight",
		Path: daprd,
		Args: []string{
			"--app-id", "preflight",
			"--dapr-http-port", strconv.Itoa(ports[0]),
			"--dapr-grpc-port", strconv.Itoa(ports[1]),
			"--dapr-internal-grpc-port", strconv.Itoa(ports[2]),
			"--metrics-port", strconv.Itoa(ports[3]),
			"--dapr-listen-addresses", "127.0.0.1",
			"--dapr-internal-grpc-listen-address", "127.0.0.1",
			"--metrics-listen-address", "127.0.0.1",
			"--resources-path", resources,
		},
		Env:    []string{"DAPR_HOST_IP=127.0.0.1"},
		LogDir: logDir,
	})
	if err != nil {
		return fmt.Errorf("daprd under test: start %s: %w", daprd, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), preflightTimeout)
	defer cancel()
	waitErr := WaitHTTP(ctx, "http://"+proc.Addr(ports[0])+"/v1.0/healthz", http.StatusNoContent, p)
	stopErr := p.Shutdown()
	if waitErr != nil {
		if !errors.Is(waitErr, proc.ErrExited) {
			waitErr = fmt.Errorf("%w; see %s:\n%s", waitErr, p.Log(), proc.Tail(p.Log(), 15))
		}
		return fmt.Errorf("daprd under test (%s) does not start on its own, with no app and no components: %w", daprd, waitErr)
	}
	if stopErr != nil {
		return fmt.Errorf("daprd under test: %w", stopErr)
	}
	return nil
}
