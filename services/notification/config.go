package main

import (
	"errors"
	"net/url"
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
	retention := env.Duration("DEAD_LETTER_RETENTION", DefaultDeadLetterRetention)
	return Config{Base: base, NATSURL: natsURL, DeadLetterRetention: retention}, env.Err()
}
