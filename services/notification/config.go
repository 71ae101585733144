package main

import (
	"errors"
	"net/url"

	"github.com/daprshop/daprshop/internal/config"
)

// Config is the notification service's configuration.
type Config struct {
	config.Base
	// NATSURL is the NATS server notifications are delivered to.
	NATSURL string
}

func loadConfig(getenv func(string) string) (Config, error) {
	base, err := config.LoadBase(getenv, 8082, "statestore")
	if err != nil {
		return Config{}, err
	}
	natsURL := config.NewEnv(getenv).String("NATS_URL", "nats://127.0.0.1:4222")
	if u, err := url.Parse(natsURL); err != nil || u.Host == "" {
		// Not the value, nor the parser's error, which quotes it: it may
		// hold a password.
		return Config{}, errors.New("NATS_URL: want a URL such as nats://user:password@host:4222")
	}
	return Config{Base: base, NATSURL: natsURL}, nil
}
