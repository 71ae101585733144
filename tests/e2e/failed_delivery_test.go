package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/daprshop/daprshop/tests/findings"
	"github.com/daprshop/daprshop/tests/harness/system"
	"github.com/daprshop/daprshop/tests/suite"
)

// TestFailedDeliveriesAreNotAcknowledged puts in notification's place an
// app that answers its health checks and drops the connection of every
// event delivered to it, as an app killed in the middle of a request does,
// and hands it a backlog of events at once, and counts what its sidecar
// acknowledged: an event is acknowledged when its app answered SUCCESS,
// and this app answered nothing, so none may be. The real app then comes
// back and must be handed every event.
func TestFailedDeliveriesAreNotAcknowledged(t *testing.T) {
	sc := run.Scenario(t, "failed deliveries are not acknowledged")
	sys := suite.Start(t, sc, system.Options{ResourcesPath: retryingOften(t)})
	notification := sys.App(t, "notification")
	notification.Proc.Stop()
	notification.Daprd.Stop()

	// A backlog, which the sidecar hands on many deliveries at a time.
	const events = 200
	orders := make([]string, events)
	var publishers errgroup.Group
	publishers.SetLimit(8)
	for i := range orders {
		orders[i] = fmt.Sprintf("o-dropped-%d", i)
		publishers.Go(func() error { return publish(t, sys, "orders", orderEvent(orders[i], "c-dropped", "confirmed", 1)) })
	}
	if err := publishers.Wait(); err != nil {
		t.Fatal(err)
	}
	standIn := startDroppingApp(t, notification.URL)
	notification.Daprd.Restart()
	ctx, cancel := context.WithTimeout(context.Background(), system.ReadyTimeout)
	defer cancel()
	if err := system.WaitHTTP(ctx, notification.DaprURL+"/v1.0/healthz", http.StatusNoContent, notification.Daprd); err != nil {
		t.Fatalf("notification's sidecar, restarted: %v", err)
	}
	// Every event is delivered, and retried, meanwhile: thousands of
	// failed deliveries.
	time.Sleep(3 * time.Second)
	acked := ingress(t, notification, "success") // since the restart
	restore := sc.KnownIssueFor(findings.FailedDeliveryAcked.Known())
	defer restore()
	sc.Check("no event acknowledged that its app did not answer", acked == 0,
		"0 acknowledged; the app answered none",
		fmt.Sprintf("%.0f of %d events acknowledged, while the app dropped all %d deliveries", acked, events, standIn.Load()))

	// The app is back: every event must reach it, the acknowledged ones
	// included, or a customer is never told.
	standIn.Close()
	notification.Proc.Restart()
	unsent := suite.Unrecorded(t, sys, suite.Confirmed(orders), 15*time.Second)
	sc.Check("every event handled once the app is back", len(unsent) == 0,
		fmt.Sprintf("%d notifications recorded", events), fmt.Sprintf("%d never: %v", len(unsent), suite.FirstFew(unsent)))
}

// retryingOften returns the selected profile's resources with a delivery
// retried every 10 ms rather than backing off: the race needs two
// deliveries under way at once, and a thousand failed deliveries a second
// show in seconds what a crash under load shows now and then.
func retryingOften(t *testing.T) string {
	t.Helper()
	profile, err := system.SelectedProfile()
	if err != nil {
		t.Fatal(err)
	}
	dir := profile.Resources(t, system.LoadEnv(t).Root)
	path := filepath.Join(dir, "resiliency.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const backingOff = "      delivery:\n        policy: exponential\n        maxInterval: 5s\n        maxRetries: 10\n"
	if !strings.Contains(string(data), backingOff) {
		t.Fatalf("%s has no delivery policy of\n%s", path, backingOff)
	}
	often := strings.Replace(string(data), backingOff, "      delivery:\n        policy: constant\n        duration: 10ms\n        maxRetries: 3000\n", 1)
	if err := os.WriteFile(path, []byte(often), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// droppingApp stands in for an app: it answers daprd's GETs (its health,
// no subscriptions of its own) and drops the connection of every other
// request, counting them.
type droppingApp struct {
	atomic.Int64
	server *http.Server
}

// startDroppingApp serves a droppingApp on the address of appURL until
// Close or the end of the test.
func startDroppingApp(t *testing.T, appURL string) *droppingApp {
	t.Helper()
	u, err := url.Parse(appURL)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", u.Host)
	if err != nil {
		t.Fatalf("listen where the app did: %v", err)
	}
	a := &droppingApp{}
	a.server = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/healthz":
			w.WriteHeader(http.StatusOK)
			return
		case r.Method == http.MethodGet && r.URL.Path == "/dapr/subscribe":
			// The subscriptions are declarative: none of its own.
			w.Write([]byte("[]"))
			return
		case r.Method == http.MethodGet:
			http.NotFound(w, r)
			return
		}
		a.Add(1)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	})}
	go func() {
		if err := a.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("stand-in app: %v", err)
		}
	}()
	t.Cleanup(a.Close)
	return a
}

// Close stops serving and closes every connection.
func (a *droppingApp) Close() { a.server.Close() }

// ingress is how many deliveries of topic orders app's sidecar counts with
// process_status outcome.
func ingress(t *testing.T, app *system.App, outcome string) float64 {
	t.Helper()
	samples, err := system.Samples(suite.HTTPClient, app.MetricsURL)
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for sample, v := range samples {
		if strings.HasPrefix(sample, "dapr_component_pubsub_ingress_count{") &&
			strings.Contains(sample, `process_status="`+outcome+`"`) && strings.Contains(sample, `topic="orders"`) {
			n += v
		}
	}
	return n
}
