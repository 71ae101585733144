// Command traceview is make run's trace viewer (RUN_SECURED=true): it
// receives the sidecars' and the apps' spans over OTLP/gRPC (tools/otlp)
// and shows them, as text, on loopback:
//
//	traceview -otlp 127.0.0.1:4317 -http 127.0.0.1:16686
//	curl localhost:16686/                 # every trace, newest first
//	curl localhost:16686/trace/TRACE_ID   # one trace, as a tree of spans
//
// A client that sends a traceparent header (docs/walk.md does) knows its
// request's trace id.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/daprshop/daprshop/tools/otlp"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "traceview:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("traceview", flag.ContinueOnError)
	otlpAddr := fs.String("otlp", "127.0.0.1:4317", "where spans are received, OTLP/gRPC")
	httpAddr := fs.String("http", "127.0.0.1:16686", "where traces are shown")
	if err := fs.Parse(args); err != nil {
		return err
	}
	otlpLn, err := net.Listen("tcp", *otlpAddr)
	if err != nil {
		return err
	}
	httpLn, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		return err
	}
	receiver := otlp.Serve(otlpLn)
	defer receiver.Close()
	srv := &http.Server{Handler: handler(receiver), ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	slog.Info("trace viewer", slog.String("otlp", receiver.Addr), slog.String("traces", "http://"+httpLn.Addr().String()+"/"))
	if err := srv.Serve(httpLn); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// handler shows the receiver's traces: GET / lists them, newest first;
// GET /trace/{id} shows one.
func handler(r *otlp.Receiver) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		type summary struct {
			id    string
			spans []otlp.Span
			start time.Time
		}
		var traces []summary
		for _, id := range r.Traces() {
			spans := r.Trace(id)
			start := slices.MinFunc(spans, func(a, b otlp.Span) int { return a.Start.Compare(b.Start) }).Start
			traces = append(traces, summary{id, spans, start})
		}
		slices.SortFunc(traces, func(a, b summary) int { return b.start.Compare(a.start) })
		for _, tr := range traces {
			root := roots(tr.spans)[0]
			fmt.Fprintf(w, "%s  %s  %s: %s  %d spans  /trace/%s\n", tr.start.Format(time.TimeOnly), tr.id, root.Service, root.Name, len(tr.spans), tr.id)
		}
	})
	mux.HandleFunc("GET /trace/{id}", func(w http.ResponseWriter, req *http.Request) {
		spans := r.Trace(req.PathValue("id"))
		if len(spans) == 0 {
			http.Error(w, "no such trace (yet: the sidecars send their spans every few seconds)", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		writeTree(w, spans)
	})
	return mux
}

// sidecarScope is the instrumentation scope of daprd's own spans.
const sidecarScope = "dapr-diagnostics"

// madeBy says who made s: the app, or its sidecar.
func madeBy(s otlp.Span) string {
	if s.Scope == sidecarScope {
		return "sidecar"
	}
	return "app"
}

// roots are the spans of a trace whose parent is not among them, the
// earliest first: the trace's root, or what arrived of it so far.
func roots(spans []otlp.Span) []otlp.Span {
	ids := map[string]bool{}
	for _, s := range spans {
		ids[s.SpanID] = true
	}
	out := slices.DeleteFunc(slices.Clone(spans), func(s otlp.Span) bool { return ids[s.ParentID] })
	slices.SortFunc(out, func(a, b otlp.Span) int { return a.Start.Compare(b.Start) })
	return out
}

// writeTree writes spans as a tree, each under its parent, in the order
// they began: the offset from the trace's start, the duration, the
// service (the Dapr app id, for an app and its sidecar alike), who made it
// (the app or its sidecar), and the span's name.
func writeTree(w io.Writer, spans []otlp.Span) {
	children := map[string][]otlp.Span{}
	for _, s := range spans {
		children[s.ParentID] = append(children[s.ParentID], s)
	}
	for _, c := range children {
		slices.SortFunc(c, func(a, b otlp.Span) int { return a.Start.Compare(b.Start) })
	}
	top := roots(spans)
	start := top[0].Start
	var write func(s otlp.Span, depth int)
	write = func(s otlp.Span, depth int) {
		fmt.Fprintf(w, "%9s %9s  %s%s %s: %s\n", s.Start.Sub(start).Round(time.Microsecond*10), s.Duration().Round(time.Microsecond*10),
			strings.Repeat("  ", depth), s.Service, madeBy(s), s.Name)
		for _, c := range children[s.SpanID] {
			write(c, depth+1)
		}
	}
	for _, s := range top {
		write(s, 0)
	}
}
