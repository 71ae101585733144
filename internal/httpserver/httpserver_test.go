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

func TestATrickledBodyIsCutOff(t *testing.T) {
	cfg := httpserver.Config{Addr: freeAddr(t), ShutdownTimeout: time.Second, ReadTimeout: 300 * time.Millisecond}
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = httpserver.Run(ctx, slog.New(slog.DiscardHandler), cfg, app) }()
	get(t, "http://"+cfg.Addr+"/") // listening

	conn, err := net.Dial("tcp", cfg.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// A byte every 100 ms: each arrives well within any idle timeout, the
	// whole body never does.
	start := time.Now()
	for time.Since(start) < 5*time.Second {
		if _, err := conn.Write([]byte("x")); err != nil {
			return // the server closed the connection: cut off
		}
		_ = conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if n, err := conn.Read(make([]byte, 1)); n == 0 && err == io.EOF {
			return
		}
	}
	t.Errorf("a body trickled for %s still holds its connection; want it cut off after ReadTimeout (%s)", time.Since(start).Round(time.Second), cfg.ReadTimeout)
}
