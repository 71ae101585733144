package main

import (
	"time"

	"github.com/daprshop/daprshop/internal/config"
)

// Config is the order service's configuration.
type Config struct {
	config.Base
	// InventoryAppID is the Dapr app id of the inventory service.
	InventoryAppID string
	// RejectedOrderRetention is how long a rejected order can be read
	// back: a client's answer to "why was it refused?".
	RejectedOrderRetention time.Duration
	// CancellationWindow is how long a confirmed order may be cancelled.
	CancellationWindow time.Duration
	// CreateETag is the ETag an order is created with, for an order store
	// that ignores first-write inside transactions (dapr.NewOrderStore);
	// empty for one that keeps Dapr's contract.
	CreateETag string
}

// DefaultRejectedOrderRetention keeps a rejected order for a month.
const DefaultRejectedOrderRetention = 30 * 24 * time.Hour

func loadConfig(getenv func(string) string) (Config, error) {
	base, err := config.LoadBase(getenv, 8080, "orderstore")
	if err != nil {
		return Config{}, err
	}
	env := config.NewEnv(getenv)
	return Config{
		Base:                   base,
		InventoryAppID:         env.String("INVENTORY_APP_ID", "inventory"),
		RejectedOrderRetention: env.Duration("REJECTED_ORDER_RETENTION", DefaultRejectedOrderRetention),
		CancellationWindow:     env.Duration(config.EnvCancellationWindow, config.DefaultCancellationWindow),
		CreateETag:             env.String(config.EnvOrderStoreCreateETag, ""),
	}, env.Err()
}
