package dapr_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdk "github.com/dapr/go-sdk/client"

	"github.com/daprshop/daprshop/internal/daprstate"
	"github.com/daprshop/daprshop/internal/events"
	"github.com/daprshop/daprshop/services/notification/internal/dapr"
	"github.com/daprshop/daprshop/services/notification/internal/notification"
	"github.com/daprshop/daprshop/services/notification/internal/notification/notificationtest"
	"github.com/daprshop/daprshop/tests/harness/system"
)

func TestMain(m *testing.M) {
	os.Exit(system.Main(m, system.MainOptions{Name: "dapr adapter", Backend: true}))
}

// appID is the app whose sidecar the adapters talk to, and the prefix of
// its keys in the store.
const appID = "notification"

// startStateStore starts the notification app's sidecar, alone, on servers
// of its own, and returns its state store as main.go builds it, and the
// sidecar.
func startStateStore(t *testing.T) (daprstate.Store, *system.Sidecar) {
	t.Helper()
	s := system.StartSidecarAlone(t, appID)
	retries := &counter{}
	// Shows, with -v, that the concurrent subtests did race for the ETag.
	t.Cleanup(func() { t.Logf("index writes that lost an ETag race and were retried: %d", retries.Load()) })
	return daprstate.Store{Client: s.Client(t), Name: "statestore", ETagRetries: retries}, s
}

// counter is a daprstate.Counter.
type counter struct{ atomic.Int64 }

func (c *counter) Inc() { c.Add(1) }

func TestStore(t *testing.T) {
	state, sidecar := startStateStore(t)
	notificationtest.TestStore(t, func(*testing.T) notification.Store { return dapr.NewStore(state) })

	store := dapr.NewStore(state)

	// A lease left by a crashed delivery lapses by its time: the key
	// that holds it keeps what the customer was told, and has no TTL.
	t.Run("a lease lapses by its time", func(t *testing.T) {
		ctx := testContext(t)
		order := "o-lease"
		if got, _, err := store.Claim(ctx, order, "e-1", 1); err != nil || got != notification.Claimed {
			t.Fatalf("Claim: got %v, %v; want Claimed", got, err)
		}
		if got, _, err := store.Claim(ctx, order, "e-2", 2); err != nil || got != notification.Busy {
			t.Fatalf("Claim while the first is live: got %v, %v; want Busy", got, err)
		}
		later := dapr.NewStoreAt(state, func() time.Time { return time.Now().Add(dapr.ClaimTTL + time.Second) })
		if got, _, err := later.Claim(ctx, order, "e-2", 2); err != nil || got != notification.Claimed {
			t.Errorf("Claim after the first one's time: got %v, %v; want Claimed", got, err)
		}
		if got, _, err := later.Claim(ctx, order, "e-1", 1); err != nil || got != notification.Busy {
			t.Errorf("Claim again at once: got %v, %v; want Busy: the new lease is live", got, err)
		}
	})

	t.Run("deliveries and histories do not expire", func(t *testing.T) {
		ctx := testContext(t)
		// The first of a customer is told step by step (its history's
		// head is created), the second at once.
		n := notification.Notification{ID: "e-kept", CustomerID: "c-kept", OrderID: "o-kept", Status: "confirmed"}
		second := notification.Notification{ID: "e-kept-2", CustomerID: n.CustomerID, OrderID: n.OrderID, Status: "cancelled"}
		if err := store.Told(ctx, n, 1); err != nil {
			t.Fatal(err)
		}
		if err := store.Told(ctx, second, 2); err != nil {
			t.Fatal(err)
		}
		// An expired record would let a redelivery send again, and one of
		// what the customer was told an earlier change of the order.
		for _, key := range []string{"notification:" + n.ID, "notification:" + second.ID, "histories:" + n.CustomerID, "told:" + n.OrderID} {
			checkNoTTL(t, sidecar.Store, key)
		}
	})

	t.Run("no key of a history grows with it", func(t *testing.T) {
		ctx := testContext(t)
		const customer, notified = "c-long", 2*notification.MaxHistoryPage + 50
		for i := range notified {
			n := notification.Notification{ID: fmt.Sprintf("e-long-%d", i), CustomerID: customer, OrderID: "o-long", Status: "confirmed"}
			if err := store.Told(ctx, n, i+1); err != nil {
				t.Fatal(err)
			}
		}
		records, err := sidecar.Store.Records(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for k := range records {
			if key, ok := strings.CutPrefix(k, appID+"||"); ok && strings.HasPrefix(key, "histories:"+customer) {
				keys = append(keys, key)
			}
		}
		listed := 0
		for _, key := range keys {
			var head struct{ Newest []string }
			var ids []string
			data, _, err := sidecar.Store.State(ctx, appID, key)
			if err != nil {
				t.Fatal(err)
			}
			if json.Unmarshal(data, &ids) != nil {
				if err := json.Unmarshal(data, &head); err != nil {
					t.Fatalf("%s: %v", key, err)
				}
				ids = head.Newest
			}
			if len(ids) > notification.MaxHistoryPage {
				t.Errorf("%s lists %d ids, more than a page (%d)", key, len(ids), notification.MaxHistoryPage)
			}
			listed += len(ids)
		}
		if len(keys) != 3 || listed != notified {
			t.Errorf("history of %d notifications: got %d keys listing %d, want 3 keys (2 pages and the head) listing all", notified, len(keys), listed)
		}
	})
}

func TestDeadLetters(t *testing.T) {
	state, sidecar := startStateStore(t)
	// A small bound, so that the contract fills it in a moment; the service
	// runs with dapr.DefaultDeadLetterLimit.
	const limit = 20
	notificationtest.TestDeadLetters(t, func(*testing.T) notification.DeadLetters { return dapr.NewDeadLetters(state, limit, time.Hour) }, limit)

	t.Run("a dead letter expires after the retention, the index does not", func(t *testing.T) {
		ctx := testContext(t)
		dl := notification.DeadLetter{ID: "dl-kept", Topic: "orders", Data: []byte(`{}`)}
		if err := dapr.NewDeadLetters(state, dapr.DefaultDeadLetterLimit, 72*time.Hour).Add(ctx, dl); err != nil {
			t.Fatal(err)
		}
		ttl, err := system.TTL(ctx, sidecar.Store, appID, "deadletter:"+dl.ID)
		if err != nil || ttl <= 71*time.Hour || ttl > 72*time.Hour {
			t.Errorf("TTL of the dead letter: got %v, %v; want the retention, 72h", ttl, err)
		}
		checkNoTTL(t, sidecar.Store, "deadletters")
	})

	t.Run("a dead letter pushed out of the index is deleted", func(t *testing.T) {
		ctx := testContext(t)
		d := dapr.NewDeadLetters(state, limit, time.Hour)
		first := notification.DeadLetter{ID: "dl-pushed-out", Topic: "orders", Data: []byte(`{}`)}
		if err := d.Add(ctx, first); err != nil {
			t.Fatal(err)
		}
		for i := range limit {
			if err := d.Add(ctx, notification.DeadLetter{ID: fmt.Sprintf("dl-newer-%d", i), Topic: "orders", Data: []byte(`{}`)}); err != nil {
				t.Fatal(err)
			}
		}
		if _, ok, err := sidecar.Store.State(ctx, appID, "deadletter:"+first.ID); err != nil || ok {
			t.Errorf("the dead letter pushed out: stored %v, %v; want it deleted", ok, err)
		}
	})
}

// TestStoreRefusingWrites checks that a write the store refuses, for
// another reason than a lost race, is an error: a Claim that reported a lost
// race, or a Told that reported success, would be taken for an answer.
// Redis keeps answering reads meanwhile, so the adapters' look at what is
// stored after a refused write finds nothing.
func TestStoreRefusingWrites(t *testing.T) {
	state, sidecar := startStateStore(t)
	store, deadLetters := dapr.NewStore(state), dapr.NewDeadLetters(state, dapr.DefaultDeadLetterLimit, time.Hour)
	// A primary missing the replicas it requires refuses every write with
	// NOREPLICAS and still serves reads.
	rdb := sidecar.RedisOnly(t, "it has Redis refuse writes with min-replicas-to-write").Client(t)
	if err := rdb.ConfigSet(testContext(t), "min-replicas-to-write", "1").Err(); err != nil {
		t.Fatalf("redis CONFIG SET min-replicas-to-write: %v", err)
	}

	n := notification.Notification{ID: "e-refused", CustomerID: "c-refused", OrderID: "o-refused"}
	tests := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Claim", func(ctx context.Context) error {
			got, _, err := store.Claim(ctx, n.OrderID, n.ID, 1)
			if err == nil && got != notification.Claimed {
				return fmt.Errorf("claim answered %v, with no one else claiming", got)
			}
			return err
		}},
		{"Told", func(ctx context.Context) error { return store.Told(ctx, n, 1) }},
		{"DeadLetters.Add", func(ctx context.Context) error {
			return deadLetters.Add(ctx, notification.DeadLetter{ID: "dl-refused", Data: []byte(`{}`)})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Each refused write takes the sidecar's retries, about 1.5 s.
			t.Parallel()
			if err := tc.call(testContext(t)); err == nil {
				t.Errorf("%s while Redis refuses writes: got nil, want an error", tc.name)
			} else {
				t.Logf("%s: %v", tc.name, err)
			}
		})
	}
}

// testContext bounds a test's calls: the client waits for an unreachable
// sidecar until the call's deadline.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// checkNoTTL fails t unless app appID's key exists and never expires.
func checkNoTTL(t *testing.T, store system.Store, key string) {
	t.Helper()
	ttl, err := system.TTL(testContext(t), store, appID, key)
	if err != nil {
		t.Errorf("TTL of %s: %v", key, err)
	} else if ttl != 0 {
		t.Errorf("TTL of %s: got %v, want none", key, ttl)
	}
}

// TestDeliveryCost counts the state calls a delivery makes through the
// sidecar (docs/patterns.md, "What an order costs"): the lease taken, and
// "delivered?" with it (a read and a write); the record and the history
// (a read and a transaction); the lease's end (a write); and one write
// more for a customer's first notification, which creates the history.
func TestDeliveryCost(t *testing.T) {
	state, _ := startStateStore(t)
	counted := &countingClient{Client: state.Client}
	state.Client = counted
	svc := notification.NewService(&notificationtest.Sender{}, dapr.NewStore(state), nil, nil)
	customer := fmt.Sprintf("c-cost-%d", time.Now().UnixNano())
	for i, want := range []int64{6, 5, 5} {
		order := fmt.Sprintf("o-cost-%d-%d", time.Now().UnixNano(), i)
		e := events.Order{EventID: order + ".confirmed", Type: events.TypeOrderConfirmed, OrderID: order, Version: 1,
			CustomerID: customer, Status: "confirmed", OccurredAt: time.Now()}
		counted.calls.Store(0)
		if got, err := svc.Handle(testContext(t), e); err != nil || got != notification.Delivered {
			t.Fatalf("Handle of %s: got %v, %v; want Delivered", e.EventID, got, err)
		}
		if got := counted.calls.Load(); got != want {
			t.Errorf("the customer's notification #%d: %d state calls, want %d", i+1, got, want)
		}
	}
}

// countingClient counts the state calls made through it.
type countingClient struct {
	sdk.Client
	calls atomic.Int64
}

func (c *countingClient) GetState(ctx context.Context, store, key string, meta map[string]string) (*sdk.StateItem, error) {
	c.calls.Add(1)
	return c.Client.GetState(ctx, store, key, meta)
}

func (c *countingClient) GetBulkState(ctx context.Context, store string, keys []string, meta map[string]string, parallelism int32) ([]*sdk.BulkStateItem, error) {
	c.calls.Add(1)
	return c.Client.GetBulkState(ctx, store, keys, meta, parallelism)
}

func (c *countingClient) SaveStateWithETag(ctx context.Context, store, key string, data []byte, etag string, meta map[string]string, so ...sdk.StateOption) error {
	c.calls.Add(1)
	return c.Client.SaveStateWithETag(ctx, store, key, data, etag, meta, so...)
}

func (c *countingClient) ExecuteStateTransaction(ctx context.Context, store string, meta map[string]string, ops []*sdk.StateOperation) error {
	c.calls.Add(1)
	return c.Client.ExecuteStateTransaction(ctx, store, meta, ops)
}
