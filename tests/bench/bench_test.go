package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	vegeta "github.com/tsenart/vegeta/v12/lib"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/daprshop/daprshop/internal/telemetry"
	"github.com/daprshop/daprshop/tests/harness/otlp"
	"github.com/daprshop/daprshop/tests/harness/proc"
	"github.com/daprshop/daprshop/tests/harness/repo"
	"github.com/daprshop/daprshop/tests/harness/system"
	"github.com/daprshop/daprshop/tests/report"
	"github.com/daprshop/daprshop/tests/suite"
)

// Benchmark settings. The fixed rate is a moderate load for the 2-core
// machines this runs on; saturation is a closed loop of benchClients.
const (
	benchRate      = 50 // orders per second
	benchClients   = 16
	benchRun       = 10 * time.Second
	benchRuns      = 3 // medians are taken over these
	benchWarmUp    = 5 * time.Second
	benchOps       = 200 // per round, for each side of an overhead pair
	benchStockEach = 100_000
)

// benchSKUs are many, as in a shop: the benchmark measures the pipeline,
// not the ETag contention on one hot item (which TestOrderFlow covers).
var benchSKUs = func() []string {
	skus := make([]string, 100)
	for i := range skus {
		skus[i] = fmt.Sprintf("BENCH-%03d", i)
	}
	return skus
}()

// TestBench measures, in one run on one machine, what the pipeline does at
// a fixed arrival rate and at saturation, what the sidecar costs next to
// calling the same thing directly, and what the apps themselves add. Its
// phases are scenarios, its figures their measurements, and its tables the
// report's notes: out/bench/report.json is in the one report format, which
// rc-check compares across Dapr versions like every other report.
func TestBench(t *testing.T) {
	sys := suite.Start(t, nil, system.Options{})
	for _, sku := range benchSKUs {
		sys.Restock(t, sku, benchStockEach)
	}
	notes := sys.CollectNotifications(t)
	b := figures{Machine: suite.Describe(system.Env{}).Machine, FixedRate: benchRate, Clients: benchClients}

	// Warm up: connections, caches, the Go runtimes' heaps.
	attackOrders(t, sys, vegeta.ConstantPacer{Freq: benchRate, Per: time.Second}, 0, benchWarmUp, nil)

	fixed := bench.Scenario(t, fmt.Sprintf("bench: pipeline at %d orders/s", benchRate))
	saturated := bench.Scenario(t, fmt.Sprintf("bench: pipeline at saturation (%d clients)", benchClients))
	root, err := repo.Find()
	if err != nil {
		t.Fatal(err)
	}
	dir := bench.Out(root)
	var fixedRuns, saturatedRuns []pipelineRun
	for i := range benchRuns {
		var profiles func() map[string]*profile.Profile
		if i == 0 {
			profiles = cpuProfiles(t, sys, benchRun, filepath.Join(dir, "profiles"))
		}
		fixedRuns = append(fixedRuns, runPipeline(t, sys, notes, fixed, vegeta.ConstantPacer{Freq: benchRate, Per: time.Second}, 0))
		if profiles != nil {
			b.Profiles = appProfiles(profiles(), fixedRuns[0].confirmed)
		}
		saturatedRuns = append(saturatedRuns, runPipeline(t, sys, notes, saturated, vegeta.ConstantPacer{}, benchClients))
	}
	for sc, runs := range map[*report.ScenarioRecorder][]pipelineRun{fixed: fixedRuns, saturated: saturatedRuns} {
		var failed, unnotified int
		for _, r := range runs {
			failed += r.failed
			unnotified += r.unnotified
		}
		sc.Check("every order confirmed", failed == 0, "no error", fmt.Sprintf("%d failed", failed))
		sc.Check("every confirmed order notified", unnotified == 0, "all within 30s", fmt.Sprintf("%d not notified", unnotified))
	}
	b.Latency = medianLatency(fixedRuns, func(r pipelineRun) report.Latency { return r.latency })
	b.NotificationLatency = medianLatency(fixedRuns, func(r pipelineRun) report.Latency { return r.notified })
	b.Saturation = saturationResult{
		OrdersPerSecond:   median(saturatedRuns, func(r pipelineRun) float64 { return r.ordersPerSecond }),
		NotifiedPerSecond: median(saturatedRuns, func(r pipelineRun) float64 { return r.notifiedPerSecond }),
		Latency:           medianLatency(saturatedRuns, func(r pipelineRun) report.Latency { return r.latency }),
	}
	b.OrdersPerSecond = b.Saturation.OrdersPerSecond

	// What each process spends per order, at the fixed rate. The apps on
	// the request's path (order, inventory) spend their CPU time on it, so
	// that time per order, next to the p50, bounds their share of it.
	for _, name := range slices.Sorted(maps.Keys(fixedRuns[0].cpu)) {
		b.Resources = append(b.Resources, benchResource{
			Process:                 name,
			CPUSecondsPer1000Orders: median(fixedRuns, func(r pipelineRun) float64 { return r.cpu[name] / float64(r.confirmed) * 1000 }),
			RSSMB:                   fixedRuns[len(fixedRuns)-1].rssMB[name],
		})
	}
	b.Calls = callsMedian(fixedRuns)
	b.AppCPUMillisPerOrder = median(fixedRuns, func(r pipelineRun) float64 {
		return (r.cpu["order"] + r.cpu["inventory"]) / float64(r.confirmed) * 1000
	})
	self, hop, answer := appTimes(t)
	b.AppSelfMillis, b.AppShareOfP50 = self, self/answer
	b.SidecarHopMillis = hop

	b.Overhead = measureOverheads(t, sys)
	b.APICalls = apiCallsOf(b.Calls, b.Overhead)
	fixed.Check("the apps' Dapr API calls at most the least the guarantees need", len(b.APICalls.Above) == 0,
		fmt.Sprintf("no kind of call more than %g an order above the least (%g calls in all; docs/patterns.md)", aboveLeast, b.APICalls.Least),
		fmt.Sprintf("%.2f calls an order; above the least: %v", b.APICalls.Calls, b.APICalls.Above))

	daprd, _ := system.DaprdPath(root)
	b.DaprdVersion = suite.Describe(system.Env{Daprd: daprd}).DaprdVersion
	b.measure(fixed, saturated)
	bench.Note(b.markdown())
	fmt.Fprintf(os.Stderr, "\n%s\n", b.markdown())
}

// appTime is where an order's time goes, from its trace: in the apps'
// own code, and on the gRPC hop between each app and its sidecar.
type appTime struct {
	// Self is the apps' own code: the order app's server span and
	// inventory's, each less the app's client spans for its sidecar
	// calls. What is left is handler, JSON, domain code, and the HTTP
	// server around them.
	Self time.Duration
	// Hop is each client span less the sidecar's span for the call: the
	// SDK and gRPC on both ends of the loopback connection, and what daprd
	// does with a call before and after it traces it.
	Hop time.Duration
}

// appTimes runs the pipeline at benchRate once more, on a system of its
// own with tracing on (so that tracing slows none of the other runs), and
// returns the p50 of the apps' own time per order, of the hop time, and of
// the answer, in milliseconds.
func appTimes(t *testing.T) (selfP50, hopP50, answerP50 float64) {
	t.Run("app self time from traces", func(t *testing.T) {
		traces := otlp.Start(t)
		sys := suite.Start(t, nil, system.Options{TraceEndpoint: traces.Addr})
		for _, sku := range benchSKUs {
			sys.Restock(t, sku, benchStockEach)
		}
		pacer := vegeta.ConstantPacer{Freq: benchRate, Per: time.Second}
		attackOrders(t, sys, pacer, 0, benchWarmUp, nil)
		start := time.Now()
		var answers []time.Duration
		attackOrders(t, sys, pacer, 0, benchRun, func(res *vegeta.Result) { answers = append(answers, res.Latency) })
		time.Sleep(7 * time.Second) // the exporters send spans in batches, every 5 s

		var self, hop []time.Duration
		for _, id := range traces.Traces() {
			spans := traces.Trace(id)
			if !slices.ContainsFunc(spans, func(s otlp.Span) bool {
				return s.Service == "order" && s.Scope == telemetry.ScopeName && s.ParentID == "" && s.Start.After(start)
			}) {
				continue // a warm-up order, a restock, or a sidecar's own trace
			}
			var at appTime
			for _, s := range spans {
				if s.Scope == telemetry.ScopeName && (s.Service == "order" || s.Service == "inventory") {
					at.add(s, spans)
				}
			}
			self, hop = append(self, at.Self), append(hop, at.Hop)
		}
		if len(self) < len(answers)/2 {
			t.Fatalf("traces of %d orders of %d: the exporters did not deliver", len(self), len(answers))
		}
		selfP50, hopP50 = report.Percentiles(self).P50, report.Percentiles(hop).P50
		answerP50 = report.Percentiles(answers).P50
	})
	return selfP50, hopP50, answerP50
}

// add counts app span s: its own time, and the hop of each sidecar call
// it made.
func (at *appTime) add(s otlp.Span, spans []otlp.Span) {
	at.Self += s.Duration()
	for _, call := range children(s, spans) {
		if call.Kind != tracepb.Span_SPAN_KIND_CLIENT {
			continue
		}
		at.Self -= call.Duration()
		at.Hop += call.Duration()
		for _, sidecar := range children(call, spans) {
			at.Hop -= sidecar.Duration()
		}
	}
}

// children are the spans whose parent is s and that lie within it. A child
// that outlives its parent is work the call started rather than waited for
// (the outbox forwarding an order's event, say), so it takes no time out
// of the parent's.
func children(s otlp.Span, spans []otlp.Span) []otlp.Span {
	var out []otlp.Span
	for _, c := range spans {
		if c.ParentID == s.SpanID && !c.Start.Before(s.Start) && !c.End.After(s.End) {
			out = append(out, c)
		}
	}
	return out
}

// pipelineRun is one run of orders through the whole system.
type pipelineRun struct {
	confirmed, failed, unnotified int
	ordersPerSecond               float64 // orders answered
	notifiedPerSecond             float64 // orders notified, placing to notification
	latency, notified             report.Latency
	cpu                           map[string]float64 // CPU seconds used during the run, by process
	rssMB                         map[string]float64
	calls                         map[string]float64 // calls per order, by caller and kind (calls)
}

// runPipeline places orders for benchRun, paced by pacer (with workers
// fixed clients, or as many as the pace needs when 0), and measures the
// answers, the time from each order to its notification on NATS, and the
// CPU time every process used meanwhile.
func runPipeline(t *testing.T, sys *suite.Shop, notes *suite.Notifications, sc *report.ScenarioRecorder, pacer vegeta.Pacer, workers uint64) pipelineRun {
	t.Helper()
	sc.Phase(fmt.Sprintf("run of %s", benchRun))
	before := usage(t, sys)
	callsBefore := calls(t, sys)
	placed := map[string]time.Time{}
	var latencies []time.Duration
	run := pipelineRun{}
	var first, last time.Time
	attackOrders(t, sys, pacer, workers, benchRun, func(res *vegeta.Result) {
		sc.Request(res.Latency, res.Code != http.StatusCreated)
		if first.IsZero() || res.Timestamp.Before(first) {
			first = res.Timestamp
		}
		if end := res.End(); end.After(last) {
			last = end
		}
		var o suite.Order
		if res.Code != http.StatusCreated || json.Unmarshal(res.Body, &o) != nil {
			run.failed++
			return
		}
		placed[o.ID] = res.Timestamp
		latencies = append(latencies, res.Latency)
	})
	after := usage(t, sys)
	run.confirmed = len(placed)
	run.ordersPerSecond = float64(run.confirmed) / last.Sub(first).Seconds()
	run.latency = report.Percentiles(latencies)
	delays, missing := notificationDelays(notes, placed, 30*time.Second)
	run.notified, run.unnotified = report.Percentiles(delays), missing
	// The pipeline's rate: from the first order placed to the last
	// notification out, which at saturation trails the answers.
	var lastNotified time.Time
	for id := range placed {
		if at, ok := notes.First(id); ok && at.After(lastNotified) {
			lastNotified = at
		}
	}
	run.notifiedPerSecond = float64(len(placed)-missing) / lastNotified.Sub(first).Seconds()
	// Every order's calls are made once its notification is out.
	run.calls = perOrder(callsBefore, calls(t, sys), run.confirmed)
	run.cpu, run.rssMB = map[string]float64{}, map[string]float64{}
	for name, u := range after {
		run.cpu[name] = u.CPUSeconds - before[name].CPUSeconds
		run.rssMB[name] = u.RSSMB
	}
	return run
}

// attackOrders places orders with vegeta for duration, each with its own
// Idempotency-Key, and hands every result to seen (if not nil).
func attackOrders(t *testing.T, sys *suite.Shop, pacer vegeta.Pacer, workers uint64, duration time.Duration, seen func(*vegeta.Result)) {
	t.Helper()
	var n atomic.Int64
	url := sys.App(t, "order").URL + "/orders"
	// Ten customers, each ordering with a token of its own.
	tokens := make([]string, 10)
	for c := range tokens {
		tokens[c] = "Bearer " + sys.Token(fmt.Sprintf("c-bench-%d", c))
	}
	targeter := func(tgt *vegeta.Target) error {
		i := n.Add(1)
		tgt.Method, tgt.URL = http.MethodPost, url
		tgt.Header = http.Header{"Content-Type": {"application/json"}, "Idempotency-Key": {fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), i)},
			"Authorization": {tokens[i%10]}}
		tgt.Body = fmt.Appendf(nil, `{"items":[{"sku":%q,"quantity":1}]}`, benchSKUs[rand.IntN(len(benchSKUs))])
		return nil
	}
	opts := []func(*vegeta.Attacker){vegeta.Timeout(10 * time.Second), vegeta.KeepAlive(true)}
	if workers > 0 {
		opts = append(opts, vegeta.Workers(workers), vegeta.MaxWorkers(workers))
	}
	for res := range vegeta.NewAttacker(opts...).Attack(targeter, pacer, duration, "orders") {
		if seen != nil {
			seen(res)
		}
	}
}

// usage reads every process's CPU time and memory, by process name, and
// stops the benchmark if one has exited.
func usage(t *testing.T, sys *suite.Shop) map[string]report.Resource {
	t.Helper()
	out := map[string]report.Resource{}
	for _, r := range suite.Resources(sys.Usage()) {
		out[r.Process] = r
	}
	if want := len(sys.Procs) + 1 + 2*len(sys.Apps); len(out) != want { // the profile's servers, NATS, each app and its sidecar
		t.Fatalf("usage of %d processes, want %d: one has exited", len(out), want)
	}
	return out
}

// notificationDelays waits up to timeout for the notification of every
// order placed, and returns the time from placing each to its first
// notification, and how many never came.
func notificationDelays(n *suite.Notifications, placed map[string]time.Time, timeout time.Duration) ([]time.Duration, int) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	delays, _ := proc.Await(ctx, func(context.Context) ([]time.Duration, bool) {
		var delays []time.Duration
		for id, at := range placed {
			if got, ok := n.First(id); ok {
				delays = append(delays, got.Sub(at))
			}
		}
		return delays, len(delays) == len(placed)
	})
	return delays, len(placed) - len(delays)
}

func median[T any](runs []T, f func(T) float64) float64 {
	vs := make([]float64, len(runs))
	for i, r := range runs {
		vs[i] = f(r)
	}
	slices.Sort(vs)
	return vs[len(vs)/2]
}

func medianLatency[T any](runs []T, f func(T) report.Latency) report.Latency {
	return report.Latency{
		Count: int(median(runs, func(r T) float64 { return float64(f(r).Count) })),
		P50:   median(runs, func(r T) float64 { return f(r).P50 }),
		P90:   median(runs, func(r T) float64 { return f(r).P90 }),
		P99:   median(runs, func(r T) float64 { return f(r).P99 }),
		Max:   median(runs, func(r T) float64 { return f(r).Max }),
	}
}

// figures are what the benchmark found, for its measurements and its
// tables. Latencies are in milliseconds.
type figures struct {
	DaprdVersion string
	Machine      report.Machine
	// OrdersPerSecond is what the pipeline sustains at saturation.
	OrdersPerSecond float64
	// FixedRate is the arrival rate (orders/s) of Latency and
	// NotificationLatency, the medians of benchRuns runs.
	FixedRate           int
	Latency             report.Latency
	NotificationLatency report.Latency
	Clients             int
	Saturation          saturationResult
	Overhead            []overhead
	// AppSelfMillis is the p50 of the time an order spends in the apps'
	// own code (order's handler and inventory's reserve, less the
	// app's client spans for the calls they make to their sidecars), read
	// from traces; AppShareOfP50 is that over the p50 answer time of the
	// same run. SidecarHopMillis is the p50 of the time spent between the
	// apps and their sidecars on those calls (appTime.Hop).
	// AppCPUMillisPerOrder is the CPU time the two apps use per order,
	// runtime and HTTP server included.
	AppSelfMillis        float64
	AppShareOfP50        float64
	SidecarHopMillis     float64
	AppCPUMillisPerOrder float64
	Resources            []benchResource
	// Calls is how many calls of each kind an order makes, at the fixed
	// rate (callsMedian).
	Calls []callCount
	// APICalls are the apps' Dapr API calls among Calls, beside the least
	// the guarantees need, counted and priced.
	APICalls apiCalls
	// Profiles says what each app spends its CPU time on, from a CPU
	// profile of the first run at the fixed rate (kept beside the report
	// in profiles/<app>.pprof).
	Profiles []appProfile
}

type saturationResult struct {
	// OrdersPerSecond are the orders answered a second; NotifiedPerSecond
	// the orders whose notification went out, from the first order placed
	// to the last notification: what the whole pipeline carries.
	OrdersPerSecond   float64
	NotifiedPerSecond float64
	Latency           report.Latency
}

type benchResource struct {
	Process                 string
	CPUSecondsPer1000Orders float64
	RSSMB                   float64
}

// measure records the figures as measurements of the two pipeline
// scenarios.
func (b figures) measure(fixed, saturated *report.ScenarioRecorder) {
	fixed.Measure("notification p50", b.NotificationLatency.P50, "ms")
	fixed.Measure("notification p99", b.NotificationLatency.P99, "ms")
	fixed.Measure("apps' own code per order (p50)", b.AppSelfMillis, "ms")
	fixed.Measure("apps' share of the p50 answer", b.AppShareOfP50, "ratio")
	fixed.Measure("app-sidecar hops per order (p50)", b.SidecarHopMillis, "ms")
	fixed.Measure("apps' CPU per order", b.AppCPUMillisPerOrder, "ms")
	for _, r := range b.Resources {
		fixed.Measure("CPU per 1,000 orders: "+r.Process, r.CPUSecondsPer1000Orders, "s")
	}
	for _, c := range b.Calls {
		if strings.HasSuffix(c.Call, " (all)") {
			fixed.Measure(report.CallsPerOrder+c.Call, c.PerOrder, "1")
		}
	}
	if b.APICalls.LeastMillis > 0 {
		fixed.Measure("apps' Dapr API calls over the least, priced", b.APICalls.Millis/b.APICalls.LeastMillis, "ratio")
	}
	saturated.Measure("orders per second", b.Saturation.OrdersPerSecond, "1/s")
	saturated.Measure("notified orders per second", b.Saturation.NotifiedPerSecond, "1/s")
}

func (b figures) markdown() string {
	var s strings.Builder
	fmt.Fprintf(&s, "# daprshop bench: daprd %s, %s/%s, %d CPUs\n\n", b.DaprdVersion, b.Machine.OS, b.Machine.Arch, b.Machine.CPUs)
	fmt.Fprintf(&s, "Medians of %d runs of %s each.\n\n", benchRuns, benchRun)
	s.WriteString("| pipeline | orders/s | p50 ms | p90 ms | p99 ms |\n| --- | ---: | ---: | ---: | ---: |\n")
	fmt.Fprintf(&s, "| POST /orders at %d orders/s | %d | %.1f | %.1f | %.1f |\n", b.FixedRate, b.FixedRate, b.Latency.P50, b.Latency.P90, b.Latency.P99)
	fmt.Fprintf(&s, "| order → notification on NATS at %d orders/s | %d | %.1f | %.1f | %.1f |\n", b.FixedRate, b.FixedRate, b.NotificationLatency.P50, b.NotificationLatency.P90, b.NotificationLatency.P99)
	fmt.Fprintf(&s, "| POST /orders at saturation (%d clients) | %.0f | %.1f | %.1f | %.1f |\n", b.Clients, b.Saturation.OrdersPerSecond, b.Saturation.Latency.P50, b.Saturation.Latency.P90, b.Saturation.Latency.P99)
	fmt.Fprintf(&s, "| order → notification at saturation, first order to last notification | %.0f | | | |\n\n", b.Saturation.NotifiedPerSecond)
	s.WriteString("| sidecar overhead | via Dapr p50 ms | direct p50 ms | ratio (p50) | via Dapr p99 ms | direct p99 ms |\n| --- | ---: | ---: | ---: | ---: | ---: |\n")
	for _, o := range b.Overhead {
		fmt.Fprintf(&s, "| %s | %.3f | %.3f | %.1f× | %.3f | %.3f |\n", o.Name, o.Dapr.P50, o.Direct.P50, o.RatioP50, o.Dapr.P99, o.Direct.P99)
	}
	fmt.Fprintf(&s, "\nThe apps' own code (order's handler, inventory's reserve; from traces, the apps' calls to their sidecars taken out) takes %.2f ms of an order (p50): %.1f%% of the p50 answer at %d orders/s. The gRPC hops between the apps and their sidecars take %.2f ms (p50; the app's client span less the sidecar's span, summed over the calls). The two apps use %.2f ms of CPU per order.\n\n",
		b.AppSelfMillis, 100*b.AppShareOfP50, b.FixedRate, b.SidecarHopMillis, b.AppCPUMillisPerOrder)
	s.WriteString("| process | CPU s per 1,000 orders | RSS MB |\n| --- | ---: | ---: |\n")
	for _, r := range b.Resources {
		fmt.Fprintf(&s, "| %s | %.2f | %.1f |\n", r.Process, r.CPUSecondsPer1000Orders, r.RSSMB)
	}
	s.WriteString(callsMarkdown(b.Calls))
	s.WriteString(b.APICalls.markdown())
	s.WriteString(profilesMarkdown(b.Profiles))
	return s.String()
}
