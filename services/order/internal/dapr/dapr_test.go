package dapr_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/daprshop/daprshop/internal/config"
	"github.com/daprshop/daprshop/internal/daprstate"
	"github.com/daprshop/daprshop/internal/events"
	"github.com/daprshop/daprshop/services/order/internal/dapr"
	"github.com/daprshop/daprshop/services/order/internal/order"
	"github.com/daprshop/daprshop/services/order/internal/order/ordertest"
	"github.com/daprshop/daprshop/tests/harness/proc"
	"github.com/daprshop/daprshop/tests/harness/system"
)

// The tests start daprd, which must never run on the host's network.
func TestMain(m *testing.M) {
	os.Exit(system.Main(m, system.MainOptions{Name: "dapr adapter", Backend: true}))
}

// appID is the app whose sidecar the adapters talk to; its state keys are
// "<appID>||<key>".
const appID = "order"

// publishTimeout bounds how long the outbox may take to publish an event:
// its forwarder waits a second before it looks for the transaction, and
// looks for ten more.
const publishTimeout = 15 * time.Second

// startStore starts the order app's sidecar, with no app, on servers of its
// own, and returns the state store the order service uses, built as main.go
// builds it, and the sidecar.
func startStore(t *testing.T) (daprstate.Store, *system.Sidecar) {
	t.Helper()
	s := system.StartSidecarAlone(t, appID)
	return daprstate.Store{Client: s.Client(t), Name: "orderstore"}, s
}

func TestOrderStore(t *testing.T) {
	store, sidecar := startStore(t)
	orders := sidecar.Broker.Tap(t, events.TopicOrders)
	// Registered after the sidecar's, so it runs before the sidecar stops:
	// daprd 1.18.2 stopped while an outbox event is in flight does not
	// finish it within its graceful-shutdown timeout, and exits 1.
	t.Cleanup(func() { waitOutboxIdle(t, sidecar) })

	// How the deployment has the order service create on this store.
	createETag := sidecar.AppEnv[config.EnvOrderStoreCreateETag]
	ordertest.TestRepository(t, func(*testing.T) order.Repository { return dapr.NewOrderStore(store, nil, time.Hour, createETag) })

	repo := dapr.NewOrderStore(store, nil, time.Hour, createETag)

	t.Run("the outbox publishes every saved event", func(t *testing.T) {
		ctx := callContext(t)
		created := ordertest.NewOrder(ordertest.NewID(), order.StatusConfirmed)
		createdEvent := order.EventFor(created)
		if err := repo.Create(ctx, created, createdEvent); err != nil {
			t.Fatalf("Create(%s): %v", created.ID, err)
		}
		cancelledEvent := cancel(t, ctx, repo, created.ID, "")
		got := waitPublished(t, orders, createdEvent.EventID, cancelledEvent.EventID)
		for _, want := range []events.Order{createdEvent, cancelledEvent} {
			if !reflect.DeepEqual(got[want.EventID], want) {
				t.Errorf("event %s on stream %s:\n got %+v\nwant %+v", want.EventID, events.TopicOrders, got[want.EventID], want)
			}
		}
	})

	t.Run("the outbox publishes nothing for a refused create", func(t *testing.T) {
		ctx := callContext(t)
		created := ordertest.NewOrder(ordertest.NewID(), order.StatusConfirmed)
		if err := repo.Create(ctx, created, order.EventFor(created)); err != nil {
			t.Fatalf("Create(%s): %v", created.ID, err)
		}
		refused := order.EventFor(created)
		refused.EventID += ".refused"
		if err := repo.Create(ctx, created, refused); err == nil {
			t.Fatalf("second Create(%s): got nil error, want a refusal: the order exists; it overwrote the order, so no refused write is left to check the outbox with", created.ID)
		}
		barrier := cancel(t, ctx, repo, created.ID, "")
		knownOutboxLimitation(t, sidecar, publishedOfRefused(t, orders, barrier.EventID, refused.EventID))
	})

	t.Run("the outbox publishes nothing for a lost race", func(t *testing.T) {
		ctx := callContext(t)
		created := ordertest.NewOrder(ordertest.NewID(), order.StatusConfirmed)
		if err := repo.Create(ctx, created, order.EventFor(created)); err != nil {
			t.Fatalf("Create(%s): %v", created.ID, err)
		}
		// The first attempt loses its ETag race for sure: a second writer
		// updates the order between the attempt's read and its write.
		attempts := 0
		var interloper, winner events.Order
		_, err := repo.Update(ctx, created.ID, func(o order.Order) (order.Order, *events.Order, error) {
			attempts++
			if attempts == 1 {
				interloper = cancel(t, ctx, repo, created.ID, ".interloper")
			}
			o.Status = order.StatusCancelled
			winner = order.EventFor(o)
			winner.EventID += fmt.Sprintf(".attempt-%d", attempts)
			return o, &winner, nil
		})
		if err != nil {
			t.Fatalf("Update(%s): %v", created.ID, err)
		}
		if attempts != 2 {
			t.Fatalf("Update(%s) ran fn %d times, want 2: the first attempt lost its race, the second won", created.ID, attempts)
		}
		waitPublished(t, orders, interloper.EventID)
		knownOutboxLimitation(t, sidecar, publishedOfRefused(t, orders, winner.EventID, created.ID+".cancelled.attempt-1"))
	})

	t.Run("a rejected order expires after the retention, a confirmed one does not", func(t *testing.T) {
		ctx := callContext(t)
		repo := dapr.NewOrderStore(store, nil, 48*time.Hour, createETag)
		rejected := ordertest.NewOrder(ordertest.NewID(), order.StatusRejected)
		confirmed := ordertest.NewOrder(ordertest.NewID(), order.StatusConfirmed)
		for _, o := range []order.Order{rejected, confirmed} {
			if err := repo.Create(ctx, o, order.EventFor(o)); err != nil {
				t.Fatalf("Create(%s): %v", o.ID, err)
			}
		}
		if ttl, err := system.TTL(ctx, sidecar.Store, appID, "order:"+rejected.ID); err != nil || ttl <= 47*time.Hour || ttl > 48*time.Hour {
			t.Errorf("TTL of the rejected order: got %v, %v; want the retention, 48h", ttl, err)
		}
		if ttl, err := system.TTL(ctx, sidecar.Store, appID, "order:"+confirmed.ID); err != nil || ttl != 0 {
			t.Errorf("TTL of the confirmed order: got %v, %v; want none", ttl, err)
		}
		waitPublished(t, orders, order.EventFor(rejected).EventID, order.EventFor(confirmed).EventID)
	})

	t.Run("counts the orders saved with their event", func(t *testing.T) {
		ctx := callContext(t)
		confirmed, cancelled := new(counter), new(counter)
		repo := dapr.NewOrderStore(store, map[order.Status]daprstate.Counter{
			order.StatusConfirmed: confirmed,
			order.StatusCancelled: cancelled,
		}, time.Hour, createETag)
		o := ordertest.NewOrder(ordertest.NewID(), order.StatusConfirmed)
		if err := repo.Create(ctx, o, order.EventFor(o)); err != nil {
			t.Fatalf("Create(%s): %v", o.ID, err)
		}
		unchanged := func(o order.Order) (order.Order, *events.Order, error) { return o, nil, nil }
		if _, err := repo.Update(ctx, o.ID, unchanged); err != nil {
			t.Fatalf("Update(%s): %v", o.ID, err)
		}
		cancel(t, ctx, repo, o.ID, "")
		if _, err := repo.Update(ctx, o.ID, unchanged); err != nil {
			t.Fatalf("Update(%s): %v", o.ID, err)
		}
		if got, want := [2]int64{confirmed.n.Load(), cancelled.n.Load()}, [2]int64{1, 1}; got != want {
			t.Errorf("after a create, a cancel and two updates without an event: got %d confirmed and %d cancelled counted, want %d and %d",
				got[0], got[1], want[0], want[1])
		}
	})
}

func TestIdempotencyKeys(t *testing.T) {
	store, sidecar := startStore(t)
	keys := dapr.NewIdempotencyKeys(store)
	ordertest.TestIdempotencyKeys(t, func(*testing.T) order.IdempotencyKeys { return keys })

	t.Run("a key is stored with KeyTTL", func(t *testing.T) {
		ctx := callContext(t)
		key := ordertest.NewID()
		if got, err := keys.Claim(ctx, key, "fp-a", "order-1"); err != nil || got != "order-1" {
			t.Fatalf("Claim(%q, fp-a, order-1): got %q, %v; want order-1, nil", key, got, err)
		}
		ttl, err := system.TTL(ctx, sidecar.Store, appID, "idempotency:"+key)
		if err != nil {
			t.Fatal(err)
		}
		// A minute of slack for the time between the claim and the look.
		if ttl < dapr.KeyTTL-time.Minute || ttl > dapr.KeyTTL {
			t.Errorf("TTL of idempotency key %s: got %s, want about %s (dapr.KeyTTL)", key, ttl, dapr.KeyTTL)
		}
	})
}

// counter is a daprstate.Counter that tests read.
type counter struct{ n atomic.Int64 }

func (c *counter) Inc() { c.n.Add(1) }

// callContext bounds a subtest's calls to the sidecar: daprclient's calls
// wait for the sidecar, without end unless told.
func callContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*publishTimeout)
	t.Cleanup(cancel)
	return ctx
}

// cancel updates order id to cancelled with an event whose id ends in
// suffix, and returns the event.
func cancel(t *testing.T, ctx context.Context, repo order.Repository, id, suffix string) events.Order {
	t.Helper()
	var e events.Order
	_, err := repo.Update(ctx, id, func(o order.Order) (order.Order, *events.Order, error) {
		o.Status = order.StatusCancelled
		e = order.EventFor(o)
		e.EventID += suffix
		return o, &e, nil
	})
	if err != nil {
		t.Fatalf("cancel %s: %v", id, err)
	}
	return e
}

// published returns the order events published on topic orders (tap), by
// event id. Each message is a CloudEvent whose data is the event.
func published(tap func() ([][]byte, error)) (map[string]events.Order, error) {
	messages, err := tap()
	if err != nil {
		return nil, err
	}
	out := map[string]events.Order{}
	for _, m := range messages {
		var ce struct {
			Data events.Order `json:"data"`
		}
		if err := json.Unmarshal(m, &ce); err != nil {
			return nil, fmt.Errorf("topic %s: %w: %s", events.TopicOrders, err, m)
		}
		out[ce.Data.EventID] = ce.Data
	}
	return out, nil
}

// waitPublished waits until every event of ids is published on topic
// orders (tap), and returns what was.
func waitPublished(t *testing.T, tap func() ([][]byte, error), ids ...string) map[string]events.Order {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), publishTimeout)
	defer cancel()
	var got map[string]events.Order
	err := proc.WaitUntil(ctx, func(ctx context.Context) error {
		var err error
		if got, err = published(tap); err != nil {
			return err
		}
		if missing := slices.DeleteFunc(slices.Clone(ids), func(id string) bool { _, ok := got[id]; return ok }); len(missing) > 0 {
			return fmt.Errorf("events %v not published on %s (published: %v)", missing, events.TopicOrders, slices.Sorted(maps.Keys(got)))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("waiting %s for the outbox to publish: %v", publishTimeout, err)
	}
	return got
}

// publishedOfRefused returns the events of refused, each saved by a write
// the store refused, that got published. It waits for barrier, the event of
// a write saved after them, and a second more: the outbox took all of them
// on its internal topic, and its forwarder handles each alike, a second
// after it arrived, so one of refused that was going to be published would
// be by then.
func publishedOfRefused(t *testing.T, tap func() ([][]byte, error), barrier string, refused ...string) []string {
	t.Helper()
	waitPublished(t, tap, barrier)
	time.Sleep(time.Second)
	got, err := published(tap)
	if err != nil {
		t.Fatal(err)
	}
	var phantoms []string
	for _, id := range refused {
		if e, ok := got[id]; ok {
			phantoms = append(phantoms, fmt.Sprintf("%s (%s)", id, e.Status))
		}
	}
	return phantoms
}

// knownOutboxLimitation reports events published for writes the store
// refused. On Redis that is a known limitation of Dapr's outbox, and skips
// the test rather than failing it; when there are none, the limitation did
// not show, which the log says. daprd writes the outbox's marker in the
// same transaction as the order, and Redis transactions do not roll back
// (Dapr's docs say so, dapr/docs#3635): the marker of a refused write
// lands, and its event is forwarded. For daprshop that is a duplicate event
// id, which consumers drop, except in the race of two requests with one
// Idempotency-Key (docs/patterns.md). A store whose transactions roll back
// has no excuse: there, such an event fails the test.
func knownOutboxLimitation(t *testing.T, sidecar *system.Sidecar, phantoms []string) {
	t.Helper()
	switch {
	case len(phantoms) > 0 && sidecar.Redis != nil:
		t.Skipf("known limitation (Redis transactions do not roll back, dapr/docs#3635): %s carries events of writes the store refused: %v", events.TopicOrders, phantoms)
	case len(phantoms) > 0:
		t.Errorf("%s carries events of writes the store refused: %v", events.TopicOrders, phantoms)
	case sidecar.Redis != nil:
		t.Logf("no event of a refused write was published: the known limitation of the outbox on state.redis did not show with this daprd")
	}
}

// outboxIdleTimeout bounds how long the outbox may take to be done with
// the tests' events: the forwarder looks for an event's transaction about
// 11 s before it drops the event.
const outboxIdleTimeout = 2 * publishTimeout

// outboxStuckIssue is what a store whose transactions roll back shows of
// the Dapr bug e2e's TestOutboxRedelivery pins down on Redis: the outbox's
// event of every transaction that rolled back (each write the contract has
// the store refuse) is never acknowledged.
const outboxStuckIssue = "dapr outbox forwarder (pkg/runtime/pubsub/outbox.go): its ExponentialBackOff has no Stop, " +
	"so the event of a transaction that rolled back, whose record never appears, is retried forever and never " +
	"acknowledged; daprd's shutdown then waits for it until its grace period ends"

// waitOutboxIdle waits until the broker holds nothing unhandled: daprd's
// outbox forwarder has handled every event on its internal topic. On a
// store that rolls back, events still held are the known issue.
func waitOutboxIdle(t *testing.T, sidecar *system.Sidecar) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), outboxIdleTimeout)
	defer cancel()
	err := system.AwaitDrained(ctx, sidecar.Broker, "")
	switch {
	case err != nil && sidecar.Redis == nil:
		t.Logf("outbox still busy after %s: %v: known issue: %s", outboxIdleTimeout, err, outboxStuckIssue)
	case err != nil:
		t.Errorf("outbox still busy after %s: %v", outboxIdleTimeout, err)
	case sidecar.Redis == nil:
		t.Logf("the outbox handled every event: the known issue (%s) did not show: is it fixed in this daprd?", outboxStuckIssue)
	}
}
