package dapr

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/daprshop/daprshop/internal/daprstate"
	"github.com/daprshop/daprshop/services/order/internal/order"
)

// KeyTTL is how long an idempotency key is remembered: long enough for any
// client's retries, short enough that keys do not pile up forever.
const KeyTTL = 24 * time.Hour

// IdempotencyKeys is an order.IdempotencyKeys on a Dapr state store: each key
// is a state entry written once (first-write, no ETag), which the store
// refuses to overwrite, and which expires after KeyTTL.
type IdempotencyKeys struct {
	store daprstate.Store
}

// NewIdempotencyKeys returns IdempotencyKeys on store.
func NewIdempotencyKeys(store daprstate.Store) *IdempotencyKeys {
	return &IdempotencyKeys{store: store}
}

type binding struct {
	OrderID     string `json:"orderId"`
	Fingerprint string `json:"fingerprint"`
}

func keyKey(key string) string { return "idempotency:" + key }

// Claim binds key to orderID unless it is bound already.
func (k *IdempotencyKeys) Claim(ctx context.Context, key, fingerprint, orderID string) (string, error) {
	meta := map[string]string{"ttlInSeconds": strconv.Itoa(int(KeyTTL / time.Second))}
	saveErr := k.store.Put(ctx, keyKey(key), binding{OrderID: orderID, Fingerprint: fingerprint}, "", meta)
	if saveErr == nil {
		return orderID, nil
	}
	// First-write refuses a key that exists; which binding is stored now
	// tells a repeat from a failure.
	var b binding
	_, found, err := k.store.Get(ctx, keyKey(key), &b)
	if err != nil {
		return "", fmt.Errorf("claim idempotency key: %w", err)
	}
	if !found {
		return "", fmt.Errorf("claim idempotency key: %w", saveErr)
	}
	if b.Fingerprint != fingerprint {
		return "", order.ErrKeyReused
	}
	return b.OrderID, nil
}
