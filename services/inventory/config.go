package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/daprshop/daprshop/internal/config"
	"github.com/daprshop/daprshop/services/inventory/internal/inventory"
)

// Config is the inventory service's configuration.
type Config struct {
	config.Base
	// Seed is the catalog stored at start for SKUs that do not exist yet.
	Seed []inventory.Item
}

// defaultSeed is the small catalog a fresh system starts with.
const defaultSeed = "SKU-1=100,SKU-2=50,SKU-3=20,SKU-4=5"

func loadConfig(getenv func(string) string) (Config, error) {
	base, err := config.LoadBase(getenv, 8081, "statestore")
	if err != nil {
		return Config{}, err
	}
	seed, err := parseSeed(config.NewEnv(getenv).String("INVENTORY_SEED", defaultSeed))
	if err != nil {
		return Config{}, fmt.Errorf("INVENTORY_SEED: %w", err)
	}
	return Config{Base: base, Seed: seed}, nil
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
