package httpserver_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/daprshop/daprshop/internal/httpserver"
)

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func get(t *testing.T, url string) int {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.StatusCode
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
	}
}

func TestProfilerOnItsOwnAddress(t *testing.T) {
	cfg := httpserver.Config{Addr: freeAddr(t), ProfilerAddr: freeAddr(t), ShutdownTimeout: time.Second}
	app := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- httpserver.Run(ctx, slog.New(slog.DiscardHandler), cfg, app) }()

	if got := get(t, "http://"+cfg.ProfilerAddr+"/debug/pprof/cmdline"); got != http.StatusOK {
		t.Errorf("profiler: got %d, want 200", got)
	}
	if got := get(t, "http://"+cfg.Addr+"/debug/pprof/cmdline"); got != http.StatusTeapot {
		t.Errorf("app address: got %d, want the app's own 418 (the profiler must not be served there)", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("clean shutdown: got %v", err)
	}
}

func TestProfilerThatCannotListenStopsTheApp(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := httpserver.Config{Addr: freeAddr(t), ProfilerAddr: taken.Addr().String(), ShutdownTimeout: time.Second}
	done := make(chan error, 1)
	go func() {
		done <- httpserver.Run(context.Background(), slog.New(slog.DiscardHandler), cfg, http.NotFoundHandler())
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), taken.Addr().String()) {
			t.Errorf("got %v, want an error naming %s", err, taken.Addr())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run kept serving although the profiler could not listen")
	}
}
