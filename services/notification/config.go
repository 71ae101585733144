package main

import (
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/daprshop/daprshop/internal/config"
)

// Config is the notification service's configuration.
type Config struct {
	config.Base
	// NATSURL is the NATS server notifications are delivered to.
	NATSURL string
	// DeadLetterRetention is how long a dead letter is kept for an
	// operator to look at and redrive.
	DeadLetterRetention time.Duration
	// NATSCredentials is the credentials file (its user JWT and seed)
	// notification connects to NATS with, when NATS authenticates its
	// clients (NATS_CREDENTIALS).
	NATSCredentials string
	// NATSAccount is the public key of the account customers' NATS users
	// live in, and NATSAccountSigningKey the file holding the seed of one
	// of its signing keys (NATS_ACCOUNT, NATS_ACCOUNT_SIGNING_KEY): with
	// both, notification issues customers credentials for their own
	// subject (POST /notifications/credentials). All three come from
	// `notification nats-trust` (internal/natstrust), and are required unless
	// INSECURE_NO_TOKENS=true: without them NATS would have to take
	// anyone, who could then listen to every customer's notifications.
	NATSAccount, NATSAccountSigningKey string
}

// DefaultDeadLetterRetention keeps a dead letter over a long weekend and
// then some.
const DefaultDeadLetterRetention = 7 * 24 * time.Hour

func loadConfig(getenv func(string) string) (Config, error) {
	base, err := config.LoadBase(getenv, 8082, "statestore")
	if err != nil {
		return Config{}, err
	}
	env := config.NewEnv(getenv)
	natsURL := env.String("NATS_URL", "nats://127.0.0.1:4222")
	if u, err := url.Parse(natsURL); err != nil || u.Host == "" {
		// Not the value, nor the parser's error, which quotes it: it may
		// hold a password.
		return Config{}, errors.New("NATS_URL: want a URL such as nats://user:password@host:4222")
	}
	cfg := Config{
		Base:                base,
		NATSURL:             natsURL,
		DeadLetterRetention: env.Duration("DEAD_LETTER_RETENTION", DefaultDeadLetterRetention),
		NATSCredentials:     env.String("NATS_CREDENTIALS", ""),
		// A key has no spaces: what a Secret or a file adds around it is
		// not part of it.
		NATSAccount:           strings.TrimSpace(env.String("NATS_ACCOUNT", "")),
		NATSAccountSigningKey: env.String("NATS_ACCOUNT_SIGNING_KEY", ""),
	}
	if !base.InsecureNoTokens {
		const why = "notification's NATS credentials (notification nats-trust makes them): without them NATS must take anyone, who may then listen to every customer's notifications"
		env.Require("NATS_CREDENTIALS", cfg.NATSCredentials, why)
		env.Require("NATS_ACCOUNT", cfg.NATSAccount, why)
		env.Require("NATS_ACCOUNT_SIGNING_KEY", cfg.NATSAccountSigningKey, why)
	} else if (cfg.NATSAccount == "") != (cfg.NATSAccountSigningKey == "") {
		// In development either may be left out, but not one alone.
		return Config{}, errors.New("NATS_ACCOUNT and NATS_ACCOUNT_SIGNING_KEY: set both, to issue customers NATS credentials, or neither")
	}
	return cfg, env.Err()
}
