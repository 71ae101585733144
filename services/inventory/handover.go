package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/daprshop/daprshop/internal/handover"
)

// command runs the subcommand args name: `inventory await-successor`, the
// preStop hook of inventory's pods (deploy/k8s/base/inventory.yaml).
func command(ctx context.Context, args []string, stdout io.Writer) error {
	if args[0] != "await-successor" {
		return fmt.Errorf("unknown command %q: usage: inventory await-successor -host NAME [-min D] [-max D] (without arguments it runs the service)", args[0])
	}
	return awaitSuccessor(ctx, args[1:], stdout)
}

// awaitSuccessor waits, as a pod told to stop, until another pod of the
// app is listed under -host (its headless Service) and -min has passed, at
// most -max; then the kubelet tells the app to stop (package handover).
func awaitSuccessor(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("await-successor", flag.ContinueOnError)
	fs.SetOutput(stdout)
	host := fs.String("host", "", "the name listing the app's ready pods (on Kubernetes, APP_ID-dapr)")
	w := handover.Wait{Poll: time.Second}
	fs.DurationVar(&w.Min, "min", 30*time.Second, "serve at least this long")
	fs.DurationVar(&w.Max, "max", time.Minute, "and at most this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *host == "" || fs.NArg() > 0 {
		return errors.New("await-successor: want -host NAME and no other arguments")
	}
	own, err := handover.OwnAddresses()
	if err != nil {
		return err
	}
	out, err := handover.Await(ctx, net.DefaultResolver, *host, own, w)
	if err != nil {
		return err
	}
	if out.Successor == "" {
		_, err = fmt.Fprintf(stdout, "no successor listed under %s after %s; stopping\n", *host, out.Waited.Round(time.Second))
		return err
	}
	_, err = fmt.Fprintf(stdout, "successor %s listed under %s; stopping after %s\n", out.Successor, *host, out.Waited.Round(time.Second))
	return err
}
