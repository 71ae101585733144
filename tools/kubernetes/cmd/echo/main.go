// Command echo is the test cluster's smallest workload (tests/harness/cluster):
//
//	echo serve ADDR   answers every HTTP request with "NAME PATH\n", where
//	                  NAME is the pod's hostname; exits 0 on SIGINT/SIGTERM
//	echo get URL      prints the body of GET URL (through the pod's DNS),
//	                  retrying for up to 30 s; exits 1 if it never gets 200
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	if len(args) != 3 {
		return errors.New("usage: echo serve ADDR | echo get URL")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	switch args[1] {
	case "serve":
		return serve(ctx, args[2])
	case "get":
		return get(ctx, args[2], stdout)
	}
	return fmt.Errorf("unknown command %q", args[1])
}

func serve(ctx context.Context, addr string) error {
	name, _ := os.Hostname()
	srv := &http.Server{Addr: addr, ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s\n", name, r.URL.Path)
	})}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

func get(ctx context.Context, url string, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var last error
	for {
		body, err := fetch(ctx, url)
		if err == nil {
			_, err = stdout.Write(body)
			return err
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("get %s: %w", url, last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func fetch(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %s", resp.Status)
	}
	return body, nil
}
