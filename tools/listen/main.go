// Command listen shows a customer's notifications as their own client gets
// them: it makes a NATS user key, asks notification for credentials for
// its public half with the customer's token (the private half never
// leaves it), connects to NATS with the user JWT it gets, signing the
// server's challenge, subscribes to notifications.CUSTOMER, and prints
// each notification on a line until Ctrl-C. `make listen CUSTOMER=c-1`
// runs it against make run: with a token from make token's issuer when
// RUN_SECURED=true make run serves one, else without credentials, as the
// insecure make run's NATS takes anyone.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/daprshop/daprshop/internal/ids"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("listen", flag.ContinueOnError)
	customer := fs.String("customer", "", "the customer whose notifications to show")
	notification := fs.String("notification", "http://127.0.0.1:8082", "the notification service, which issues NATS credentials")
	natsURL := fs.String("nats", "nats://127.0.0.1:4222", "the NATS server")
	tokens := fs.String("tokens", "http://127.0.0.1:8088/token", "the development issuer's tokens (make token's); none there: no credentials")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !ids.Valid(*customer) {
		return fmt.Errorf("customer %q: %s (make listen CUSTOMER=c-1)", *customer, ids.Rule)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	client := &http.Client{Timeout: 10 * time.Second}

	var opts []nats.Option
	token, err := fetchToken(ctx, client, *tokens, *customer)
	switch {
	case err != nil:
		return err
	case token == "":
		fmt.Fprintf(os.Stderr, "listen: no issuer at %s: connecting without credentials, which the insecure make run's NATS does not ask for\n", *tokens)
	default:
		user, err := nkeys.CreateUser()
		if err != nil {
			return err
		}
		jwt, err := credentials(ctx, client, *notification, token, user)
		if err != nil {
			return err
		}
		opts = append(opts, nats.UserJWT(func() (string, error) { return jwt, nil }, user.Sign))
	}
	nc, err := nats.Connect(*natsURL, opts...)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", *natsURL, err)
	}
	defer nc.Close()
	subject := "notifications." + *customer
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) { fmt.Fprintf(out, "%s\n", m.Data) })
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		return err
	}
	if err := nc.LastError(); err != nil {
		return fmt.Errorf("subscribe to %s: %w", subject, err)
	}
	fmt.Fprintf(os.Stderr, "listen: listening on %s; Ctrl-C stops\n", subject)
	<-ctx.Done()
	return nil
}

// fetchToken asks the development issuer at tokensURL for customer's
// token; "" when nothing listens there (make run without RUN_SECURED).
func fetchToken(ctx context.Context, client *http.Client, tokensURL, customer string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, tokensURL+"?customer="+url.QueryEscape(customer), nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return "", nil
		}
		return "", fmt.Errorf("a token for %s: %w", customer, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("a token for %s: %s: %s", customer, resp.Status, strings.TrimSpace(string(body)))
	}
	return strings.TrimSpace(string(body)), nil
}

// credentials asks notification, with token, for NATS credentials for
// user's public key, and returns the user JWT.
func credentials(ctx context.Context, client *http.Client, notification, token string, user nkeys.KeyPair) (string, error) {
	pub, err := user.PublicKey()
	if err != nil {
		return "", err
	}
	body, _ := json.Marshal(map[string]string{"publicKey": pub})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, notification+"/notifications/credentials", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("NATS credentials: %w", err)
	}
	defer resp.Body.Close()
	var answer struct {
		JWT   string `json:"jwt"`
		Error struct{ Message string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil || resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("NATS credentials: %s: %s (%v)", resp.Status, answer.Error.Message, err)
	}
	return answer.JWT, nil
}
