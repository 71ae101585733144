// Package dapr keeps inventory items in a Dapr state store, using ETags for
// optimistic concurrency.
package dapr

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	sdk "github.com/dapr/go-sdk/client"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/daprshop/daprshop/services/inventory/internal/inventory"
)

// maxAttempts bounds the read-modify-write loop of Update. Each attempt that
// loses the race does so because another writer succeeded, so the loop makes
// progress overall; the bound only keeps one caller from spinning forever
// under extreme contention.
const maxAttempts = 50

// catalogKey holds the sorted list of every SKU: the state API has no key
// listing, so List reads this index and then the items in bulk.
const catalogKey = "catalog"

// ItemStore is an inventory.Store on a Dapr state store.
type ItemStore struct {
	client      sdk.Client
	name        string
	etagRetries Counter
}

// Counter counts something that happened; a prometheus.Counter is one.
type Counter interface{ Inc() }

// NewItemStore returns an ItemStore on the state store component called
// name. etagRetries (nil: not counted) counts writes that lost an ETag race
// and read again.
func NewItemStore(client sdk.Client, name string, etagRetries Counter) *ItemStore {
	return &ItemStore{client: client, name: name, etagRetries: etagRetries}
}

func itemKey(sku string) string { return "item:" + sku }

// Get returns the item for sku, or inventory.ErrUnknownSKU.
func (s *ItemStore) Get(ctx context.Context, sku string) (inventory.Item, error) {
	item, _, exists, err := s.read(ctx, sku)
	if err != nil {
		return inventory.Item{}, err
	}
	if !exists {
		return inventory.Item{}, &inventory.UnknownSKUError{SKU: sku}
	}
	return item, nil
}

// List returns every item in SKU order.
func (s *ItemStore) List(ctx context.Context) ([]inventory.Item, error) {
	skus, _, err := s.catalog(ctx)
	if err != nil {
		return nil, err
	}
	if len(skus) == 0 {
		return []inventory.Item{}, nil
	}
	keys := make([]string, len(skus))
	for i, sku := range skus {
		keys[i] = itemKey(sku)
	}
	bulk, err := s.client.GetBulkState(ctx, s.name, keys, nil, 4)
	if err != nil {
		return nil, fmt.Errorf("get %d items: %w", len(keys), err)
	}
	items := make([]inventory.Item, 0, len(bulk))
	for _, b := range bulk {
		if b.Error != "" {
			return nil, fmt.Errorf("get %s: %s", b.Key, b.Error)
		}
		if len(b.Value) == 0 {
			continue
		}
		var item inventory.Item
		if err := json.Unmarshal(b.Value, &item); err != nil {
			return nil, fmt.Errorf("decode %s: %w", b.Key, err)
		}
		items = append(items, item)
	}
	slices.SortFunc(items, func(a, b inventory.Item) int { return strings.Compare(a.SKU, b.SKU) })
	return items, nil
}

// Update is the read-modify-write loop: read the item and its ETag, let fn
// change it, and save it only if the ETag still matches (first-write
// concurrency). Losing the race means someone else changed the item; read
// again and let fn decide again on fresh data.
func (s *ItemStore) Update(ctx context.Context, sku string, fn func(item inventory.Item, exists bool) (inventory.Item, error)) error {
	for attempt := range maxAttempts {
		item, etag, exists, err := s.read(ctx, sku)
		if err != nil {
			return err
		}
		updated, err := fn(item, exists)
		if err != nil {
			return err
		}
		if !exists {
			// List a new SKU before creating it: a crash in between leaves
			// a listed SKU without an item, which List skips, rather than
			// an item that nothing lists.
			if err := s.addToCatalog(ctx, sku); err != nil {
				return err
			}
		}
		err = s.write(ctx, itemKey(sku), updated, etag)
		if err == nil {
			return nil
		}
		if !isConflict(err, exists) {
			return fmt.Errorf("save %s: %w", sku, err)
		}
		if s.etagRetries != nil {
			s.etagRetries.Inc()
		}
		if err := backoff(ctx, attempt); err != nil {
			return err
		}
	}
	return fmt.Errorf("update %s: %w", sku, inventory.ErrContention)
}

func (s *ItemStore) read(ctx context.Context, sku string) (inventory.Item, string, bool, error) {
	got, err := s.client.GetState(ctx, s.name, itemKey(sku), nil)
	if err != nil {
		return inventory.Item{}, "", false, fmt.Errorf("get %s: %w", sku, err)
	}
	if len(got.Value) == 0 {
		return inventory.Item{}, "", false, nil
	}
	var item inventory.Item
	if err := json.Unmarshal(got.Value, &item); err != nil {
		return inventory.Item{}, "", false, fmt.Errorf("decode %s: %w", sku, err)
	}
	return item, got.Etag, true, nil
}

// write saves v under key with first-write concurrency. With an ETag the save
// fails when the stored version moved on; without one (a new key) it fails
// when the key was created meanwhile.
func (s *ItemStore) write(ctx context.Context, key string, v any, etag string) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	return s.client.SaveStateWithETag(ctx, s.name, key, data, etag, nil,
		sdk.WithConcurrency(sdk.StateConcurrencyFirstWrite),
		sdk.WithConsistency(sdk.StateConsistencyStrong))
}

func (s *ItemStore) catalog(ctx context.Context) ([]string, string, error) {
	got, err := s.client.GetState(ctx, s.name, catalogKey, nil)
	if err != nil {
		return nil, "", fmt.Errorf("get catalog: %w", err)
	}
	var skus []string
	if len(got.Value) > 0 {
		if err := json.Unmarshal(got.Value, &skus); err != nil {
			return nil, "", fmt.Errorf("decode catalog: %w", err)
		}
	}
	return skus, got.Etag, nil
}

func (s *ItemStore) addToCatalog(ctx context.Context, sku string) error {
	for attempt := range maxAttempts {
		skus, etag, err := s.catalog(ctx)
		if err != nil {
			return err
		}
		i, found := slices.BinarySearch(skus, sku)
		if found {
			return nil
		}
		skus = slices.Insert(skus, i, sku)
		err = s.write(ctx, catalogKey, skus, etag)
		if err == nil {
			return nil
		}
		if !isConflict(err, etag != "") {
			return fmt.Errorf("save catalog: %w", err)
		}
		if s.etagRetries != nil {
			s.etagRetries.Inc()
		}
		if err := backoff(ctx, attempt); err != nil {
			return err
		}
	}
	return fmt.Errorf("add %s to catalog: %w", sku, inventory.ErrContention)
}

// isConflict reports whether a failed first-write save lost a race. Dapr
// answers an ETag mismatch with gRPC Aborted. Creating a key that another
// writer created first is refused by state.redis with a plain error, so any
// failure to create counts as a possible conflict: the next read either sees
// the new key or fails itself.
func isConflict(err error, hadETag bool) bool {
	if !hadETag {
		return true
	}
	return status.Code(err) == codes.Aborted
}

// backoff sleeps a little, with jitter so that writers who collided do not
// collide again in lockstep.
func backoff(ctx context.Context, attempt int) error {
	d := time.Duration(1+rand.IntN(1+min(attempt, 10)*2)) * time.Millisecond
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
