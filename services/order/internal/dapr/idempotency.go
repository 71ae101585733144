package dapr

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	sdk "github.com/dapr/go-sdk/client"

	"github.com/daprshop/daprshop/services/order/internal/order"
)

// KeyTTL is how long an idempotency key is remembered: long enough for any
// client's retries, short enough that keys do not pile up forever.
const KeyTTL = 24 * time.Hour

// IdempotencyKeys is an order.IdempotencyKeys on a Dapr state store: each key
// is a state entry written once (first-write, no ETag), which the store
// refuses to overwrite, and which expires after KeyTTL.
type IdempotencyKeys struct {
	client sdk.Client
	name   string
}

// NewIdempotencyKeys returns IdempotencyKeys on the state store component
// name.
func NewIdempotencyKeys(client sdk.Client, name string) *IdempotencyKeys {
	return &IdempotencyKeys{client: client, name: name}
}

type binding struct {
	OrderID     string `json:"orderId"`
	Fingerprint string `json:"fingerprint"`
}

func keyKey(key string) string { return "idempotency:" + key }

// Claim binds key to orderID unless it is bound already.
func (k *IdempotencyKeys) Claim(ctx context.Context, key, fingerprint, orderID string) (string, error) {
	data, err := json.Marshal(binding{OrderID: orderID, Fingerprint: fingerprint})
	if err != nil {
		return "", fmt.Errorf("encode idempotency key: %w", err)
	}
	meta := map[string]string{"ttlInSeconds": strconv.Itoa(int(KeyTTL / time.Second))}
	saveErr := k.client.SaveState(ctx, k.name, keyKey(key), data, meta,
		sdk.WithConcurrency(sdk.StateConcurrencyFirstWrite))
	if saveErr == nil {
		return orderID, nil
	}
	// First-write refuses a key that exists; which binding is stored now
	// tells a repeat from a failure.
	got, err := k.client.GetState(ctx, k.name, keyKey(key), nil)
	if err != nil {
		return "", fmt.Errorf("claim idempotency key: %w", err)
	}
	if len(got.Value) == 0 {
		return "", fmt.Errorf("claim idempotency key: %w", saveErr)
	}
	var b binding
	if err := json.Unmarshal(got.Value, &b); err != nil {
		return "", fmt.Errorf("decode idempotency key: %w", err)
	}
	if b.Fingerprint != fingerprint {
		return "", order.ErrKeyReused
	}
	return b.OrderID, nil
}
