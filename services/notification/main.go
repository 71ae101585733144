// Command notification consumes order events from Dapr pub/sub and delivers
// one notification per event on NATS subject notifications.<customerId>.
// `notification nats-trust DIR` makes the NATS keys a deployment needs
// once (natstrust.go).
package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/daprshop/daprshop/internal/app"
	"github.com/daprshop/daprshop/internal/daprstate"
	"github.com/daprshop/daprshop/internal/httpserver"
	"github.com/daprshop/daprshop/services/notification/internal/dapr"
	"github.com/daprshop/daprshop/services/notification/internal/natsbus"
	"github.com/daprshop/daprshop/services/notification/internal/notification"
)

func main() {
	var err error
	if len(os.Args) > 1 {
		err = command(os.Args[1:], os.Stdout)
	} else {
		err = run(context.Background(), os.Getenv, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "notification:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return app.Run(ctx, "notification", cfg.Base, getenv, stdout, func(ctx context.Context, rt app.Runtime) error {
		passes, err := newPasses(cfg)
		if err != nil {
			return err
		}
		nc, closed, err := connectNATS(cfg.NATSURL, cfg.NATSCredentials, rt.Logger)
		if err != nil {
			return err
		}
		// Drain delivers what is buffered, then closes; wait for that,
		// unless there is no connection to drain.
		defer func() {
			if err := nc.Drain(); err != nil {
				nc.Close()
				return
			}
			<-closed
		}()

		m := newMetrics()
		sender := natsbus.NewSender(nc)
		store := daprstate.Store{Client: rt.Dapr, Name: cfg.StateStore, ETagRetries: m.etagRetries}
		svc := notification.NewService(sender, dapr.NewStore(store),
			dapr.NewDeadLetters(store, dapr.DefaultDeadLetterLimit, cfg.DeadLetterRetention), dapr.NewEvents(rt.Dapr))
		return httpserver.Run(ctx, rt.Logger, cfg.Server(), newServer(rt.Logger, cfg, svc, passes, sender.Ready, m))
	})
}

// connectNATS connects to NATS at url, and returns a channel closed once
// the connection is. It succeeds even when NATS is not up yet, and keeps
// reconnecting: /readyz reports the connection, and events are retried
// until it is back. The URL may carry credentials: what it logs or returns
// shows them redacted.
func connectNATS(natsURL, credentials string, logger *slog.Logger) (*nats.Conn, <-chan struct{}, error) {
	closed := make(chan struct{})
	opts := []nats.Option{
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }),
		nats.Name("daprshop-notification"),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			logger.Warn("nats disconnected", slog.Any("error", err))
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { logger.Info("nats reconnected", slog.String("url", c.ConnectedUrlRedacted())) }),
	}
	if credentials != "" {
		opts = append(opts, nats.UserCredentials(credentials))
	}
	nc, err := nats.Connect(natsURL, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("nats %s: %w", redacted(natsURL), err)
	}
	return nc, closed, nil
}

// customerPassLifetime is how long a customer's NATS credentials last: a
// client asks for new ones (with a fresh bearer token) before they expire,
// and the server closes a connection whose credentials did.
const customerPassLifetime = time.Hour

// newPasses returns what issues customers their NATS credentials, or nil
// when cfg names no account to issue them in (NATS takes no credentials).
func newPasses(cfg Config) (passIssuer, error) {
	if cfg.NATSAccountSigningKey == "" {
		return nil, nil
	}
	seed, err := os.ReadFile(cfg.NATSAccountSigningKey)
	if err != nil {
		return nil, fmt.Errorf("NATS_ACCOUNT_SIGNING_KEY: %w", err)
	}
	passes, err := natsbus.NewPasses(bytes.TrimSpace(seed), cfg.NATSAccount, customerPassLifetime, time.Now)
	if err != nil {
		return nil, fmt.Errorf("NATS_ACCOUNT_SIGNING_KEY, NATS_ACCOUNT: %w", err)
	}
	return passes, nil
}

// redacted is rawURL with its password, if any, replaced by "xxxxx"; an
// URL that does not parse is left out whole, since it may hold one.
func redacted(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(an unparsable URL)"
	}
	return u.Redacted()
}
