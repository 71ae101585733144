package main

import (
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
	return Config{
		Base:    base,
		NATSURL: config.NewEnv(getenv).String("NATS_URL", "nats://127.0.0.1:4222"),
	}, nil
}
