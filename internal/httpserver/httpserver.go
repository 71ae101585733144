// Package httpserver runs a service's HTTP servers for the lifetime of a
// context.
package httpserver

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// Config says where a service listens.
type Config struct {
	// Addr is where the app's handler is served.
	Addr string
	// ProfilerAddr, when set, is where Go's profiler is served
	// (/debug/pprof/), apart from the app's routes so that it is never
	// exposed with them.
	ProfilerAddr string
	// ShutdownTimeout bounds the wait for in-flight requests on shutdown.
	ShutdownTimeout time.Duration
	// ReadTimeout bounds how long a client may take to send a whole
	// request, body included (zero: DefaultReadTimeout), so that a body
	// trickled a byte at a time cannot hold a connection forever.
	ReadTimeout time.Duration
}

// DefaultReadTimeout is long for a request body of at most 64 KiB
// (internal/web), even on a slow link.
const DefaultReadTimeout = 30 * time.Second

// Run serves handler on cfg.Addr, and the profiler on cfg.ProfilerAddr when
// set, until ctx is cancelled; then it stops accepting connections and waits
// up to cfg.ShutdownTimeout for in-flight requests to finish. If one server
// fails, both stop. A clean shutdown returns nil.
func Run(ctx context.Context, logger *slog.Logger, cfg Config, handler http.Handler) error {
	if cfg.ProfilerAddr == "" {
		return serve(ctx, logger, cfg.Addr, handler, cfg)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done := make(chan error, 1)
	go func() {
		err := serve(ctx, logger, cfg.ProfilerAddr, profiler(), cfg)
		cancel(err)
		done <- err
	}()
	err := serve(ctx, logger, cfg.Addr, handler, cfg)
	cancel(err)
	return errors.Join(err, <-done)
}

// profiler serves net/http/pprof's handlers, without registering them on
// http.DefaultServeMux.
func profiler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

func serve(ctx context.Context, logger *slog.Logger, addr string, handler http.Handler, cfg Config) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       cmp.Or(cfg.ReadTimeout, DefaultReadTimeout),
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	logger.Info("serving", slog.String("addr", ln.Addr().String()))

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve on %s: %w", addr, err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", slog.String("addr", ln.Addr().String()), slog.Duration("timeout", cfg.ShutdownTimeout))
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve on %s: %w", addr, err)
	}
	return nil
}
