package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/daprshop/daprshop/internal/config"
	"github.com/daprshop/daprshop/services/inventory/internal/inventory"
)

// Config is the inventory service's configuration.
type Config struct {
	config.Base
	// Seed is the catalog stored at start for SKUs that do not exist yet.
	Seed []inventory.Item
	// CancellationWindow is how long an order may be cancelled; its holds
	// are fulfilled a tenth of it later.
	CancellationWindow time.Duration
}

// defaultSeed is the small catalog a fresh system starts with.
const defaultSeed = "SKU-1=100,SKU-2=50,SKU-3=20,SKU-4=5"

func loadConfig(getenv func(string) string) (Config, error) {
	base, err := config.LoadBase(getenv, 8081, "statestore")
	if err != nil {
		return Config{}, err
	}
	env := config.NewEnv(getenv)
	seed, err := parseSeed(env.String("INVENTORY_SEED", defaultSeed))
	if err != nil {
		return Config{}, fmt.Errorf("INVENTORY_SEED: %w", err)
	}
	window := env.Duration(config.EnvCancellationWindow, config.DefaultCancellationWindow)
	return Config{Base: base, Seed: seed, CancellationWindow: window}, env.Err()
}

// Fulfilment is when the holds of an order are fulfilled: a tenth of the
// cancellation window after it closes, so that a cancel the order service
// accepted just before, by its own clock, still finds its hold.
func (c Config) Fulfilment() inventory.Fulfilment {
	return inventory.Fulfilment{After: c.CancellationWindow + c.CancellationWindow/10, Now: time.Now}
}

// parseSeed reads "SKU=quantity,..."; "none" seeds nothing.
func parseSeed(s string) ([]inventory.Item, error) {
	if s == "none" {
		return nil, nil
	}
	var items []inventory.Item
	for entry := range strings.SplitSeq(s, ",") {
		sku, qty, ok := strings.Cut(strings.TrimSpace(entry), "=")
		n, err := strconv.Atoi(qty)
		if !ok || err != nil || n < 0 || n > inventory.MaxQuantity || !inventory.ValidSKU(sku) {
			return nil, fmt.Errorf("entry %q: want SKU=quantity", entry)
		}
		items = append(items, inventory.Item{SKU: sku, Available: n})
	}
	return items, nil
}
