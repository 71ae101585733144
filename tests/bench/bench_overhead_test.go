package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	dapr "github.com/dapr/go-sdk/client"
	"gopkg.in/yaml.v3"

	"github.com/daprshop/daprshop/internal/daprclient"
	"github.com/daprshop/daprshop/tests/harness/system"
	"github.com/daprshop/daprshop/tests/report"
	"github.com/daprshop/daprshop/tests/suite"
)

// overhead is one building block measured through the sidecar and directly,
// side by side; latencies in milliseconds.
type overhead struct {
	Name     string
	Dapr     report.Latency
	Direct   report.Latency
	RatioP50 float64
}

// The operations timed through the sidecar and directly, by the names the
// report gives them (and leastCalls prices calls with).
const (
	opInvoke    = "read an item from inventory (service invocation)"
	opStateGet  = "state get"
	opStateSave = "state save"
)

// pair is an operation done through Dapr and the same done directly.
type pair struct {
	name         string
	dapr, direct func(ctx context.Context, i int) error
}

// measureOverheads times each pair one operation at a time (so each
// latency is the operation's own, not a queue's), alternating rounds of the
// two sides so that a slow moment of the machine hits both.
func measureOverheads(t *testing.T, sys *suite.Shop) []overhead {
	var out []overhead
	t.Run("overhead", func(t *testing.T) {
		probe := startBenchApp(t, sys)
		var results []overhead
		for _, p := range probe.pairs(t, sys) {
			daprSide := bench.Scenario(t, "bench: "+p.name+" via Dapr")
			directSide := bench.Scenario(t, "bench: "+p.name+" direct")
			var viaDapr, direct []time.Duration
			for round := range benchRuns + 1 {
				d1 := timeOps(t, daprSide, p.dapr, round)
				d2 := timeOps(t, directSide, p.direct, round)
				if round > 0 { // round 0 warms up
					viaDapr, direct = append(viaDapr, d1...), append(direct, d2...)
				}
			}
			o := overhead{Name: p.name, Dapr: report.Percentiles(viaDapr), Direct: report.Percentiles(direct)}
			o.RatioP50 = o.Dapr.P50 / o.Direct.P50
			results = append(results, o)
		}
		out = results
	})
	return out
}

// timeOps runs op benchOps times in a row and returns each one's latency;
// an error fails the test.
func timeOps(t *testing.T, sc *report.ScenarioRecorder, op func(context.Context, int) error, round int) []time.Duration {
	t.Helper()
	ds := make([]time.Duration, 0, benchOps)
	for i := range benchOps {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		start := time.Now()
		err := op(ctx, round*benchOps+i)
		d := time.Since(start)
		cancel()
		if err != nil {
			t.Fatalf("%v", err)
		}
		if round > 0 {
			sc.Request(d, false)
		}
		ds = append(ds, d)
	}
	return ds
}

// benchApp is an app of the benchmark's own, with a sidecar: it subscribes
// to a topic, so that a publish can be timed until its delivery, and its
// sidecar loads the project's state and pub/sub components without their
// scopes.
type benchApp struct {
	app       *system.App
	client    dapr.Client
	delivered chan int // the seq of each event delivered
}

const benchTopic = "bench"

func startBenchApp(t *testing.T, sys *suite.Shop) *benchApp {
	t.Helper()
	env := system.LoadEnv(t)
	base := env.App(t, "notification")
	base.AppID, base.EnableAppHealth = "bench", false
	resources := t.TempDir()
	for _, name := range []string{"statestore.yaml", "pubsub.yaml"} {
		var from string // the profile's own file, or else components/'s
		for _, dir := range sys.Profile.ComponentDirs(env.Root) {
			if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
				from = filepath.Join(dir, name)
			}
		}
		unscoped(t, from, filepath.Join(resources, name))
	}
	app := system.StartSidecar(t, env, base, system.Options{ResourcesPath: resources}, env.LogDir(t),
		system.Backends{Components: sys.Env, NATS: sys.NATS.URL})

	b := &benchApp{app: app, delivered: make(chan int, 16)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /dapr/subscribe", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `[{"pubsubname":"pubsub","topic":%q,"route":"/events"}]`, benchTopic)
	})
	mux.HandleFunc("POST /events", func(w http.ResponseWriter, r *http.Request) {
		var ev struct{ Data struct{ Seq int } }
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		b.delivered <- ev.Data.Seq
		fmt.Fprint(w, `{"status":"SUCCESS"}`)
	})
	u, err := url.Parse(app.URL)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), system.ReadyTimeout)
	defer cancel()
	if err := system.WaitHTTP(ctx, app.DaprURL+"/v1.0/healthz", http.StatusNoContent, app.Daprd); err != nil {
		t.Fatalf("bench sidecar not ready: %v", err)
	}
	b.client, err = daprclient.New(app.DaprGRPCAddr, app.APIToken)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.client.Close)
	return b
}

// unscoped copies the component at from to to, without its scopes.
func unscoped(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	delete(c, "scopes")
	if data, err = yaml.Marshal(c); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func (b *benchApp) pairs(t *testing.T, sys *suite.Shop) []pair {
	inventory := sys.App(t, "inventory")
	reader := sys.Token("c-bench")
	get := func(ctx context.Context, url string) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		// The probe sidecar's token; the app called directly ignores it.
		req.Header.Set("dapr-api-token", b.app.APIToken)
		suite.Authorize(req, reader) // inventory wants a client's token, also through service invocation
		resp, err := suite.HTTPClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	}
	value := []byte(`{"sku":"BENCH-1","available":1000,"reserved":0}`)
	if err := b.client.SaveState(context.Background(), "statestore", "bench-get", value, nil); err != nil {
		t.Fatal(err)
	}
	direct := directOn(t, sys, value)
	return []pair{
		{
			name: opInvoke,
			dapr: func(ctx context.Context, _ int) error {
				return get(ctx, b.app.DaprURL+"/v1.0/invoke/inventory/method/items/"+benchSKUs[0])
			},
			direct: func(ctx context.Context, _ int) error { return get(ctx, inventory.URL+"/items/"+benchSKUs[0]) },
		},
		{
			name: opStateGet,
			dapr: func(ctx context.Context, _ int) error {
				item, err := b.client.GetState(ctx, "statestore", "bench-get", nil)
				if err == nil && len(item.Value) == 0 {
					err = errors.New("state get: empty")
				}
				return err
			},
			direct: direct.get,
		},
		{
			name: opStateSave,
			dapr: func(ctx context.Context, i int) error {
				return b.client.SaveState(ctx, "statestore", "bench-save", value, nil)
			},
			direct: direct.save,
		},
		{
			name: "publish → delivered (" + direct.broker + ")",
			dapr: func(ctx context.Context, i int) error {
				if err := b.client.PublishEvent(ctx, "pubsub", benchTopic, fmt.Appendf(nil, `{"seq":%d}`, i),
					dapr.PublishEventWithContentType("application/json")); err != nil {
					return err
				}
				return awaitSeq(ctx, b.delivered, i)
			},
			direct: direct.publish,
		},
	}
}

// awaitSeq waits for seq to come out of ch, skipping older ones (a
// redelivery, say).
func awaitSeq(ctx context.Context, ch <-chan int, seq int) error {
	for {
		select {
		case got := <-ch:
			if got == seq {
				return nil
			}
		case <-ctx.Done():
			return fmt.Errorf("event %d not delivered: %w", seq, ctx.Err())
		}
	}
}
