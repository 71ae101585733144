// Package dapr keeps delivered notifications in a Dapr state store.
package dapr

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	sdk "github.com/dapr/go-sdk/client"

	"github.com/daprshop/daprshop/services/notification/internal/notification"
)

// maxAttempts bounds the ETag loop that appends to an index (a customer's
// history, the dead letters).
const maxAttempts = 20

// Store is a notification.Store. Each notification is its own key, written
// once (first-write); each customer has an index of notification ids.
type Store struct {
	client      sdk.Client
	name        string
	etagRetries Counter
}

// Counter counts something that happened; a prometheus.Counter is one.
type Counter interface{ Inc() }

// NewStore returns a Store on the state store component name. etagRetries
// (nil: not counted) counts history appends that lost an ETag race and read
// again.
func NewStore(client sdk.Client, name string, etagRetries Counter) *Store {
	return &Store{client: client, name: name, etagRetries: etagRetries}
}

func notificationKey(id string) string    { return "notification:" + id }
func historyKey(customerID string) string { return "history:" + customerID }
func firstWrite() sdk.StateOption         { return sdk.WithConcurrency(sdk.StateConcurrencyFirstWrite) }

// Delivered reports whether notification id was recorded.
func (s *Store) Delivered(ctx context.Context, id string) (bool, error) {
	got, err := s.client.GetState(ctx, s.name, notificationKey(id), nil)
	if err != nil {
		return false, fmt.Errorf("get notification %s: %w", id, err)
	}
	return len(got.Value) > 0, nil
}

// claimTTL bounds how long a claim keeps other deliveries of the same event
// waiting. It must be far longer than a send and a record take (milliseconds)
// and far shorter than the delivery retries of the resiliency policy (about
// 30 s): a claim left by a crashed process must expire while the redelivery
// is still being retried, or the event would end up a dead letter.
const claimTTL = 5 * time.Second

func claimKey(id string) string { return "claim:" + id }

// Claim creates a claim for id that expires after claimTTL; first-write
// refuses to create it while another one lives.
func (s *Store) Claim(ctx context.Context, id string) (bool, error) {
	meta := map[string]string{"ttlInSeconds": strconv.Itoa(int(claimTTL / time.Second))}
	err := s.client.SaveState(ctx, s.name, claimKey(id), []byte(`"claimed"`), meta, firstWrite())
	if err == nil {
		return true, nil
	}
	// Refused, or failed: a claim that exists now tells which.
	got, gerr := s.client.GetState(ctx, s.name, claimKey(id), nil)
	if gerr == nil && len(got.Value) > 0 {
		return false, nil
	}
	return false, fmt.Errorf("claim notification %s: %w", id, err)
}

// Unclaim deletes the claim for id.
func (s *Store) Unclaim(ctx context.Context, id string) error {
	if err := s.client.DeleteState(ctx, s.name, claimKey(id), nil); err != nil {
		return fmt.Errorf("unclaim notification %s: %w", id, err)
	}
	return nil
}

// Record stores n unless a notification with its id exists already.
func (s *Store) Record(ctx context.Context, n notification.Notification) error {
	data, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("encode notification %s: %w", n.ID, err)
	}
	err = s.client.SaveState(ctx, s.name, notificationKey(n.ID), data, nil, firstWrite())
	if err == nil {
		return nil
	}
	// First-write refuses to overwrite an existing key: if it is there now,
	// a concurrent redelivery recorded it first, which is just as good.
	if delivered, derr := s.Delivered(ctx, n.ID); derr == nil && delivered {
		return nil
	}
	return fmt.Errorf("save notification %s: %w", n.ID, err)
}

// AddToHistory appends id to the customer's index unless it is there.
func (s *Store) AddToHistory(ctx context.Context, customerID, id string) error {
	return appendToIndex(ctx, s.client, s.name, historyKey(customerID), id, 0, s.etagRetries)
}

// History returns the customer's notifications in delivery order.
func (s *Store) History(ctx context.Context, customerID string) ([]notification.Notification, error) {
	ids, _, err := s.index(ctx, customerID)
	if err != nil {
		return nil, err
	}
	return getAll[notification.Notification](ctx, s.client, s.name, ids, notificationKey)
}

// getAll reads the JSON values stored under key(id) for every id, in order,
// skipping ids whose value is gone.
func getAll[T any](ctx context.Context, client sdk.Client, store string, ids []string, key func(string) string) ([]T, error) {
	out := make([]T, 0, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = key(id)
	}
	items, err := client.GetBulkState(ctx, store, keys, nil, 4)
	if err != nil {
		return nil, fmt.Errorf("get %d keys: %w", len(keys), err)
	}
	byKey := make(map[string][]byte, len(items))
	for _, it := range items {
		if it.Error != "" {
			return nil, fmt.Errorf("get %s: %s", it.Key, it.Error)
		}
		byKey[it.Key] = it.Value
	}
	for _, k := range keys {
		if len(byKey[k]) == 0 {
			continue
		}
		var v T
		if err := json.Unmarshal(byKey[k], &v); err != nil {
			return nil, fmt.Errorf("decode %s: %w", k, err)
		}
		out = append(out, v)
	}
	return out, nil
}

func (s *Store) index(ctx context.Context, customerID string) ([]string, string, error) {
	return readIndex(ctx, s.client, s.name, historyKey(customerID))
}

// readIndex reads a list of ids kept under key, and its ETag.
func readIndex(ctx context.Context, client sdk.Client, store, key string) ([]string, string, error) {
	got, err := client.GetState(ctx, store, key, nil)
	if err != nil {
		return nil, "", fmt.Errorf("get %s: %w", key, err)
	}
	var ids []string
	if len(got.Value) > 0 {
		if err := json.Unmarshal(got.Value, &ids); err != nil {
			return nil, "", fmt.Errorf("decode %s: %w", key, err)
		}
	}
	return ids, got.Etag, nil
}

// appendToIndex adds id to the list under key unless it is there, keeping at
// most limit ids (0: no limit), with an ETag loop against concurrent writers
// whose retries count on retries (nil: not counted).
func appendToIndex(ctx context.Context, client sdk.Client, store, key, id string, limit int, retries Counter) error {
	for range maxAttempts {
		ids, etag, err := readIndex(ctx, client, store, key)
		if err != nil {
			return err
		}
		if slices.Contains(ids, id) {
			return nil
		}
		ids = append(ids, id)
		if limit > 0 && len(ids) > limit {
			ids = ids[len(ids)-limit:]
		}
		data, err := json.Marshal(ids)
		if err != nil {
			return fmt.Errorf("encode %s: %w", key, err)
		}
		err = client.SaveStateWithETag(ctx, store, key, data, etag, nil, firstWrite())
		if err == nil {
			return nil
		}
		// Lost the race to another writer, or the save failed: the next
		// read tells which.
		if _, now, rerr := readIndex(ctx, client, store, key); rerr != nil || now == etag {
			return fmt.Errorf("save %s: %w", key, err)
		}
		if retries != nil {
			retries.Inc()
		}
	}
	return fmt.Errorf("save %s: too many concurrent updates", key)
}
