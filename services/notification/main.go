// Command notification consumes order events from Dapr pub/sub and delivers
// one notification per event on NATS subject notifications.<customerId>.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/nats-io/nats.go"

	"github.com/daprshop/daprshop/internal/daprclient"
	"github.com/daprshop/daprshop/internal/daprstate"
	"github.com/daprshop/daprshop/internal/httpserver"
	"github.com/daprshop/daprshop/internal/telemetry"
	"github.com/daprshop/daprshop/services/notification/internal/dapr"
	"github.com/daprshop/daprshop/services/notification/internal/natsbus"
	"github.com/daprshop/daprshop/services/notification/internal/notification"
)

func main() {
	if err := run(context.Background(), os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "notification:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	logger := slog.New(telemetry.LogHandler(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: cfg.LogLevel}))).With("app", "notification")
	stopTracing, err := telemetry.StartTracing(ctx, logger, "notification", getenv)
	if err != nil {
		return err
	}
	defer stopTracing()

	client, err := daprclient.New(cfg.DaprGRPCAddr, cfg.DaprAPIToken)
	if err != nil {
		return err
	}
	defer client.Close()

	// Start even when NATS is not up yet, and keep reconnecting: /readyz
	// reports the connection, and events are retried until it is back.
	closed := make(chan struct{})
	nc, err := nats.Connect(cfg.NATSURL,
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }),
		nats.Name("daprshop-notification"),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			logger.Warn("nats disconnected", slog.Any("error", err))
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { logger.Info("nats reconnected", slog.String("url", c.ConnectedUrl())) }),
	)
	if err != nil {
		return fmt.Errorf("nats %s: %w", cfg.NATSURL, err)
	}
	// Drain delivers what is buffered, then closes; wait for that, unless
	// there is no connection to drain.
	defer func() {
		if err := nc.Drain(); err != nil {
			nc.Close()
			return
		}
		<-closed
	}()

	m := newMetrics()
	sender := natsbus.NewSender(nc)
	store := daprstate.Store{Client: client, Name: cfg.StateStore, ETagRetries: m.etagRetries}
	svc := notification.NewService(sender, dapr.NewStore(store), dapr.NewDeadLetters(store))
	return httpserver.Run(ctx, logger, cfg.Server(), newServer(logger, cfg, svc, sender, m))
}
