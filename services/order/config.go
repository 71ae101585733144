package main

import (
	"github.com/daprshop/daprshop/internal/config"
)

// Config is the order service's configuration.
type Config struct {
	config.Base
	// InventoryAppID is the Dapr app id of the inventory service.
	InventoryAppID string
}

func loadConfig(getenv func(string) string) (Config, error) {
	base, err := config.LoadBase(getenv, 8080, "orderstore")
	if err != nil {
		return Config{}, err
	}
	return Config{
		Base:           base,
		InventoryAppID: config.NewEnv(getenv).String("INVENTORY_APP_ID", "inventory"),
	}, nil
}
