// Package dapr keeps delivered notifications in a Dapr state store.
package dapr

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	sdk "github.com/dapr/go-sdk/client"

	"github.com/daprshop/daprshop/services/notification/internal/notification"
)

// maxAttempts bounds the ETag loop that appends to a customer's history.
const maxAttempts = 20

// Store is a notification.Store. Each notification is its own key, written
// once (first-write); each customer has an index of notification ids.
type Store struct {
	client sdk.Client
	name   string
}

// NewStore returns a Store on the state store component name.
func NewStore(client sdk.Client, name string) *Store {
	return &Store{client: client, name: name}
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
	for range maxAttempts {
		ids, etag, err := s.index(ctx, customerID)
		if err != nil {
			return err
		}
		if slices.Contains(ids, id) {
			return nil
		}
		data, err := json.Marshal(append(ids, id))
		if err != nil {
			return fmt.Errorf("encode history: %w", err)
		}
		err = s.client.SaveStateWithETag(ctx, s.name, historyKey(customerID), data, etag, nil, firstWrite())
		if err == nil {
			return nil
		}
		// Lost the race to another writer (or the save failed): the next
		// read tells which.
		if _, now, rerr := s.index(ctx, customerID); rerr != nil || now == etag {
			return fmt.Errorf("save history of %s: %w", customerID, err)
		}
	}
	return fmt.Errorf("save history of %s: too many concurrent updates", customerID)
}

// History returns the customer's notifications in delivery order.
func (s *Store) History(ctx context.Context, customerID string) ([]notification.Notification, error) {
	ids, _, err := s.index(ctx, customerID)
	if err != nil || len(ids) == 0 {
		return []notification.Notification{}, err
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = notificationKey(id)
	}
	items, err := s.client.GetBulkState(ctx, s.name, keys, nil, 4)
	if err != nil {
		return nil, fmt.Errorf("get notifications of %s: %w", customerID, err)
	}
	byKey := make(map[string][]byte, len(items))
	for _, it := range items {
		if it.Error != "" {
			return nil, fmt.Errorf("get %s: %s", it.Key, it.Error)
		}
		byKey[it.Key] = it.Value
	}
	out := make([]notification.Notification, 0, len(ids))
	for _, k := range keys {
		if len(byKey[k]) == 0 {
			continue
		}
		var n notification.Notification
		if err := json.Unmarshal(byKey[k], &n); err != nil {
			return nil, fmt.Errorf("decode %s: %w", k, err)
		}
		out = append(out, n)
	}
	return out, nil
}

func (s *Store) index(ctx context.Context, customerID string) ([]string, string, error) {
	got, err := s.client.GetState(ctx, s.name, historyKey(customerID), nil)
	if err != nil {
		return nil, "", fmt.Errorf("get history of %s: %w", customerID, err)
	}
	var ids []string
	if len(got.Value) > 0 {
		if err := json.Unmarshal(got.Value, &ids); err != nil {
			return nil, "", fmt.Errorf("decode history of %s: %w", customerID, err)
		}
	}
	return ids, got.Etag, nil
}
