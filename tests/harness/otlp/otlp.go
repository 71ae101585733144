// Package otlp is the trace backend of the e2e suite: tools/otlp's
// receiver, on a free port of the test's network namespace, stopped when
// the test ends.
package otlp

import (
	"net"
	"testing"

	"github.com/daprshop/daprshop/tools/otlp"
)

// Receiver and Span are tools/otlp's.
type (
	Receiver = otlp.Receiver
	Span     = otlp.Span
)

// Start serves a receiver on a free loopback port until the test ends.
func Start(t testing.TB) *Receiver {
	t.Helper()
	return StartOn(t, "127.0.0.1")
}

// StartOn serves a receiver on a free port of the address host (one of the
// test's own network namespace: a cluster node's, say) until the test ends.
func StartOn(t testing.TB, host string) *Receiver {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("otlp receiver: %v", err)
	}
	r := otlp.Serve(ln)
	t.Cleanup(r.Close)
	return r
}
