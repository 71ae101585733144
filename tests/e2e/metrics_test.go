package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/daprshop/daprshop/deploy/monitoring"
	"github.com/daprshop/daprshop/tests/harness/proc"
	"github.com/daprshop/daprshop/tests/harness/system"
	"github.com/daprshop/daprshop/tests/suite"
)

// TestMetricsAgreeWithTheSuite drives a known mix of orders (confirmed,
// rejected, cancelled, an idempotent replay, a repeated cancel) and checks
// that the business counters and the RED counters on each app's /metrics
// say what the suite itself counted: an operator's dashboard tells the
// truth.
func TestMetricsAgreeWithTheSuite(t *testing.T) {
	sc := run.Scenario(t, "metrics agree")
	sys := suite.Start(t, sc, system.Options{})
	order, notification := sys.App(t, "order"), sys.App(t, "notification")
	const customer, sku = "c-metrics", "METRICS-1"
	sys.Restock(t, sku, 20)

	msgs := sys.Subscribe(t, customer)
	var confirmed, rejected, cancelled, posts201, posts409 int
	var ids []string
	place := func(key string, quantity int) {
		status, id := sys.PlaceOrder(t, key, customer, sku, quantity)
		switch status {
		case http.StatusCreated:
			posts201++
		case http.StatusConflict:
			posts409++
		default:
			t.Fatalf("POST /orders: got %d, want 201 or 409", status)
		}
		if key == "" || !slices.Contains(ids, id) {
			ids = append(ids, id)
			if status == http.StatusCreated {
				confirmed++
			} else {
				rejected++
			}
		}
	}
	for range 5 {
		place("", 1)
	}
	place("metrics-key", 1)
	place("metrics-key", 1) // a replay: answered again, counted once
	place("", 10_000)       // more than there is: rejected
	place("", 10_000)
	for _, id := range ids[:2] {
		for range 2 { // the second cancel changes nothing
			if status := sys.Call(t, http.MethodPost, order.URL+"/orders/"+id+"/cancel", "", nil); status != http.StatusOK {
				t.Fatalf("cancel %s: got %d, want 200", id, status)
			}
		}
		cancelled++
	}

	// Every stored transition is one event and so one notification.
	events := confirmed + rejected + cancelled
	seen := map[string]bool{}
	deadline := time.After(45 * time.Second)
	for len(seen) < events {
		select {
		case m := <-msgs:
			seen[m.Header.Get(nats.MsgIdHdr)] = true
		case <-deadline:
			t.Fatalf("got %d notifications on NATS, want %d", len(seen), events)
		}
	}

	for _, c := range []struct {
		app    *system.App
		sample string
		want   int
	}{
		{order, `daprshop_order_orders_total{status="confirmed"}`, confirmed},
		{order, `daprshop_order_orders_total{status="rejected"}`, rejected},
		{order, `daprshop_order_orders_total{status="cancelled"}`, cancelled},
		{order, `daprshop_http_requests_total{code="201",method="POST",route="/orders"}`, posts201},
		{order, `daprshop_http_requests_total{code="409",method="POST",route="/orders"}`, posts409},
		{order, `daprshop_http_requests_total{code="200",method="POST",route="/orders/:id/cancel"}`, 2 * cancelled},
		{notification, `daprshop_notification_events_total{outcome="delivered"}`, len(seen)},
		{notification, `daprshop_notification_dead_letters_total`, 0},
	} {
		// notification counts a delivery once its handler returns, a moment
		// after the message reached NATS: give the counters that moment.
		ctx, cancel := context.WithTimeout(context.Background(), metricsSettle)
		got, _ := proc.Await(ctx, func(context.Context) (float64, bool) {
			got := metric(t, c.app, c.sample)
			return got, got == float64(c.want)
		})
		cancel()
		sc.Check(c.app.ID+" "+c.sample, got == float64(c.want), fmt.Sprint(c.want), fmt.Sprint(got))
	}

	// What deploy/monitoring's alerts and dashboard read is there: every
	// metric they name is one of the apps' or the sidecars' /metrics.
	names, err := monitoring.MetricNames()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, app := range sys.Apps {
		for _, url := range []string{app.URL + "/metrics", app.MetricsURL} {
			samples, err := system.Samples(suite.HTTPClient, url)
			if err != nil {
				t.Fatal(err)
			}
			for sample := range samples {
				name, _, _ := strings.Cut(sample, "{")
				exported[name] = true
			}
		}
	}
	missing := slices.DeleteFunc(slices.Clone(names), func(n string) bool { return exported[n] })
	sc.Check("the alerts and the dashboard name only metrics the system exports", len(missing) == 0,
		fmt.Sprintf("all %d metrics of deploy/monitoring on the apps' or the sidecars' /metrics", len(names)),
		fmt.Sprintf("%d missing: %s", len(missing), strings.Join(missing, ", ")))

	// Each sidecar's latency histograms time every operation it counted:
	// a percentile computed from them covers every call.
	for _, app := range []*system.App{order, sys.App(t, "inventory"), notification} {
		var untimed []string
		var series int
		ctx, cancel := context.WithTimeout(context.Background(), metricsSettle)
		err := proc.WaitUntil(ctx, func(context.Context) error {
			samples, err := system.Samples(suite.HTTPClient, app.MetricsURL)
			if err != nil {
				return err
			}
			untimed, series = system.UntimedOperations(samples)
			switch {
			case series == 0:
				return errors.New("no state or pub/sub operation counted")
			case len(untimed) > 0:
				return fmt.Errorf("%d of %d series untimed", len(untimed), series)
			}
			return nil
		}, app.Daprd)
		cancel()
		observed := fmt.Sprintf("all %d series equal", series)
		if err != nil {
			observed = err.Error()
			if len(untimed) > 0 {
				observed = strings.Join(untimed, "; ")
			}
		}
		sc.Check("daprd-"+app.ID+" times every state and pub/sub operation it counts (dapr/dapr#10214, fixed by #10215)", err == nil,
			"each dapr_component_*_latencies_count equal to its dapr_component_*_count", observed)
	}
}

// metricsSettle bounds how long a counter may lag what the suite saw.
const metricsSettle = 5 * time.Second
