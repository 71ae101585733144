package soak

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/daprshop/daprshop/internal/config"
	"github.com/daprshop/daprshop/internal/telemetry"
	"github.com/daprshop/daprshop/tests/compare"
	"github.com/daprshop/daprshop/tests/harness/knobs"
	"github.com/daprshop/daprshop/tests/harness/otlp"
	"github.com/daprshop/daprshop/tests/harness/proc"
	"github.com/daprshop/daprshop/tests/harness/system"
	"github.com/daprshop/daprshop/tests/report"
	"github.com/daprshop/daprshop/tests/suite"
)

// The shop the soak orders from: a small hot set of SKUs, many customers.
const (
	soakSKUs      = 10
	soakCustomers = 10_000
	maxQuantity   = 3
)

// tenths is how many parts a run is measured in; the first is warm-up,
// the second the baseline every later part is held to.
const tenths = 10

// flatRatio is how much a figure may grow from the baseline to the end of
// the run and still count as flat.
const flatRatio = 1.2

// A p50 or the CPU an order costs, taken over a stretch of the run shorter
// than steadyStretch, moves with the machine's other work: on a shared
// machine, by a fifth from one half-minute to the next (1.19× between the
// two stretches of make test's 3,000-order soak on a clean run, where no
// figure grows). Such figures are held to shortStretchRatio instead, which
// still fails a cost that grows with the orders placed.
const (
	steadyStretch     = time.Minute
	shortStretchRatio = 1.5
)

// tracedPerTenth is how many orders of each tenth the soak traces (the
// others carry an unsampled trace context, which the apps and sidecars
// follow): enough for a steady p50 of a tenth's reserve time, and as many
// in a long run as in a short one, whose spans the test keeps in memory.
const tracedPerTenth = 100

// reserveSpan is the span of inventory's reserve handler, named by the
// apps' trace middleware after the route: the time a reservation takes
// inside inventory, its reads and writes of the SKU's entry (ETag retries
// included) through the sidecar.
const reserveSpan = "POST /reservations/:orderId"

// TestSoak places SOAK_ORDERS orders at SOAK_RATE a second and measures
// each tenth of the run. Its invariants are named "flat" (the answer's p50,
// a reservation's p50 from traces, the CPU an order costs, each process's
// memory and each Go process's heap)
// and "bounded" (the largest state entry), each the end of the run held to
// its start after the first tenth, the warm-up; and, whatever the figures,
// every order answered and stock conserved.
func TestSoak(t *testing.T) {
	orders, err := knobs.SoakOrders.Int()
	if err != nil {
		t.Fatal(err)
	}
	rate, err := knobs.SoakRate.Int()
	if err != nil {
		t.Fatal(err)
	}
	if orders < tenths*10 {
		t.Fatalf("%s=%d: at least %d, ten per tenth of the run", knobs.SoakOrders.Name, orders, tenths*10)
	}
	sc := run.Scenario(t, fmt.Sprintf("soak: %d orders at %d a second", orders, rate))
	// The apps' cancellation window is a tenth of the run, 20 s at most,
	// so that orders' holds are fulfilled (a tenth of the window later)
	// before the second tenth ends: a SKU's entry has reached the size it
	// keeps by the baseline, whatever the run's length.
	window := min(time.Duration(orders/tenths)*time.Second/time.Duration(rate), 20*time.Second)
	traces := otlp.Start(t)
	sys := suite.Start(t, sc, system.Options{
		AppEnv:        map[string]string{config.EnvCancellationWindow: window.String()},
		TraceEndpoint: traces.Addr,
	})
	skus := make([]string, soakSKUs)
	stockEach := orders * maxQuantity / soakSKUs
	for i := range skus {
		skus[i] = fmt.Sprintf("SOAK-%d", i+1)
		for left := stockEach; left > 0; left -= min(left, 1_000_000) {
			sys.Restock(t, skus[i], min(left, 1_000_000))
		}
	}

	s := &soak{sys: sys, skus: skus, rate: rate, held: map[string]int{}, traced: map[string]int{},
		traceEvery: max(orders/tenths/tracedPerTenth, 1)}
	parts := make([]tenth, tenths)
	sc.OpenLoop()
	before := sys.Usage()
	for i := range parts {
		sc.Phase(fmt.Sprintf("%d%% of %d orders", (i+1)*100/tenths, orders))
		parts[i] = s.place(t, i, orders/tenths)
		after := sys.Usage()
		parts[i].measure(t, sys, before, after)
		before = after
		parts[i].record(sc, (i+1)*100/tenths)
	}
	sc.Resources(suite.Resources(before))
	drained := sys.AwaitDrained(t, time.Minute)
	sc.Check("every event consumed", drained == nil, "nothing left unhandled on the broker within 1m (every stream group or queue caught up and acknowledged)", fmt.Sprint(drained))
	reserves, untraced := s.reserveTimes(traces)
	sc.Check("every traced order's reservation traced", len(untraced) == 0,
		fmt.Sprintf("a %q span in inventory for each order traced, within %s", reserveSpan, suite.TraceCompleteTimeout),
		fmt.Sprintf("%d of %d without: %v", len(untraced), len(s.traced), suite.FirstFew(untraced)))
	for i := range parts {
		parts[i].reserves = reserves[i]
		l := report.Percentiles(reserves[i])
		at := fmt.Sprintf(" at %d%%", (i+1)*100/tenths)
		sc.Measure("reserve p50 (traces)"+at, l.P50, "ms")
		sc.Measure("reserve p99 (traces)"+at, l.P99, "ms")
	}

	sc.Check("every order answered, retried with its Idempotency-Key", len(s.unanswered) == 0,
		fmt.Sprintf("an answer other than 5xx within %s", suite.RetryFor), fmt.Sprintf("%d unanswered: %v", len(s.unanswered), suite.FirstFew(s.unanswered)))
	var drift []string
	for _, sku := range skus {
		got := sys.StoredItem(t, sku)
		if got.Available+got.Reserved+got.Fulfilled != stockEach || got.Reserved+got.Fulfilled != s.held[sku] {
			drift = append(drift, fmt.Sprintf("%s: available %d reserved %d fulfilled %d, confirmed orders hold %d",
				sku, got.Available, got.Reserved, got.Fulfilled, s.held[sku]))
		}
	}
	sc.Check("stock conserved and matching confirmed orders", len(drift) == 0,
		fmt.Sprintf("available+reserved+fulfilled = %d and reserved+fulfilled = held by confirmed orders, per SKU", stockEach), fmt.Sprint(drift))

	// What is measured over a stretch of orders (a p50, the CPU an order
	// costs) is held flat from the three tenths after warm-up, 20% to 40%
	// of the run, to the last three, 80% to 100%: one tenth of a short run
	// is 300 orders in six seconds, in which the machine's other work moves
	// a p50 or the CPU per order by a fifth, while a leak or a growing
	// entry moves all three last tenths alike.
	early, late := pool(parts[1:4]), pool(parts[tenths-3:])
	last := parts[tenths-1]
	store := sys.Profile.ServerNames[0]
	// grownBy checks that final is at most ratio times first, or, with a
	// floor, at most floor higher.
	grownBy := func(ratio, floor float64) func(name, unit string, first, final float64, firstAt, finalAt string) {
		return func(name, unit string, first, final float64, firstAt, finalAt string) {
			expected := fmt.Sprintf("%s at most %.1f× the %s %s", finalAt, ratio, unit, firstAt)
			if floor > 0 {
				expected += fmt.Sprintf(", or at most %g higher", floor)
			}
			sc.Check(name, final <= first*ratio || final-first <= floor, expected,
				fmt.Sprintf("%.4g %s, %.4g %s (%.2f×)", first, firstAt, final, finalAt, final/first))
		}
	}
	stretchRatio := flatRatio
	if stretch := 3 * time.Duration(orders/tenths) * time.Second / time.Duration(rate); stretch < steadyStretch {
		stretchRatio = shortStretchRatio
	}
	flat, flatStretch := grownBy(flatRatio, 0), grownBy(stretchRatio, 0)
	// A p50 of a few milliseconds moves by one from stretch to stretch (a
	// reservation's 1.94 ms became 2.99 in one of make test's soaks): it
	// counts as grown only when it is also higher by more than rc-check
	// lets a median under a fixed-rate load rise.
	flatP50 := grownBy(stretchRatio, compare.DefaultThresholds.Latency.LoadMinP50DiffMs)
	const earlyAt, lateAt = "from 20% to 40%", "from 80% to 100%"
	flatP50("flat: p50 of an answer", "p50 (ms)", early.p50(), late.p50(), earlyAt, lateAt)
	flatP50("flat: p50 of a reservation, from traces", "reserve p50 (ms)", early.reserveP50(), late.reserveP50(), earlyAt, lateAt)
	flatStretch("flat: CPU per order, every process", "CPU per order", early.cpuPerOrder(), late.cpuPerOrder(), earlyAt, lateAt)
	// What is measured at one moment (the largest entry, a process's
	// memory or heap) varies from one moment to the next, by more than a
	// fifth in a short run: the largest entry holds the orders a SKU's
	// cancellation window holds at that moment, counted in whole seconds
	// and by one order more or less with the timing; a small heap's
	// goal is twice what happened to be live at the last collection. These
	// are held to their largest from 20% to 50% of the run, the first half
	// after warm-up: what grows with the orders placed still grows by half
	// again, or doubles, from there.
	firstHalf := parts[1 : tenths/2]
	peak := func(figure func(tenth) float64) (float64, int) {
		at := 0
		for i, p := range firstHalf {
			if figure(p) > figure(firstHalf[at]) {
				at = i
			}
		}
		return figure(firstHalf[at]), at
	}
	bounded := func(name, unit string, figure func(tenth) float64) {
		most, at := peak(figure)
		final := figure(last)
		sc.Check(name, final <= most*flatRatio, fmt.Sprintf("at 100%% at most %.1f× the largest %s from 20%% to 50%%", flatRatio, unit),
			fmt.Sprintf("%.4g at most from 20%% to 50%% (at %d%%), %.4g at 100%% (%.2f×)", most, (at+2)*100/tenths, final, final/most))
	}
	most, at := peak(func(p tenth) float64 { return float64(p.store.LargestValue) })
	sc.Check("bounded: the largest state entry", float64(last.store.LargestValue) <= most*flatRatio,
		fmt.Sprintf("at 100%% at most %.1f× the largest from 20%% to 50%%", flatRatio),
		fmt.Sprintf("%.0f bytes at most from 20%% to 50%% (%s, at %d%%), %d at 100%% (%s)",
			most, firstHalf[at].store.LargestKey, (at+2)*100/tenths, last.store.LargestValue, last.store.LargestKey))
	// The state store keeps the shop's records (every order, every
	// notification sent), so it grows with the orders by design: what must
	// stay flat is what each order adds to its data. It is taken over three
	// tenths, 10% to 40% and 70% to 100%: a store grows in steps (Redis's
	// keyspace table doubles as keys are added, PostgreSQL's tables by
	// pages), which one tenth of a short run may or may not straddle.
	perOrder := func(from, to int) float64 {
		orders := 0
		for _, p := range parts[from+1 : to+1] {
			orders += p.orders
		}
		return float64(parts[to].store.Data-parts[from].store.Data) / float64(orders)
	}
	flat("flat: "+store+" data an order adds", "bytes an order added", perOrder(0, 3), perOrder(tenths-4, tenths-1),
		"from 10% to 40%", "from 70% to 100%")
	servers := map[string]bool{}
	for _, server := range sys.Procs {
		servers[server.Proc.Name()] = true
	}
	for _, p := range slices.Sorted(maps.Keys(last.rssMB)) {
		if servers[p] {
			continue // they keep the records, and grow with them
		}
		bounded("flat: memory of "+p, "resident memory", func(t tenth) float64 { return t.rssMB[p] })
	}
	for _, app := range slices.Sorted(maps.Keys(last.heapMB)) {
		bounded("flat: Go heap of "+app, "heap goal", func(t tenth) float64 { return t.heapMB[app] })
	}
}

// soak is what the run's clients share.
type soak struct {
	sys        *suite.Shop
	skus       []string
	rate       int
	traceEvery int // one order in traceEvery is traced

	mu         sync.Mutex
	n          int
	held       map[string]int // by SKU, what confirmed orders hold
	unanswered []string
	traced     map[string]int // the tenth each traced order was placed in, by trace id
}

// tenth is what one tenth of the run measured.
type tenth struct {
	orders     int
	answers    []time.Duration // each order's, until answered
	reserves   []time.Duration // a traced order's reservation in inventory
	cpuSeconds map[string]float64
	rssMB      map[string]float64
	heapMB     map[string]float64
	store      system.StoreSize
}

// pool is consecutive tenths taken as one stretch of the run.
func pool(parts []tenth) tenth {
	all := tenth{cpuSeconds: map[string]float64{}}
	for _, p := range parts {
		all.orders += p.orders
		all.answers = append(all.answers, p.answers...)
		all.reserves = append(all.reserves, p.reserves...)
		for name, s := range p.cpuSeconds {
			all.cpuSeconds[name] += s
		}
	}
	return all
}

func (p tenth) p50() float64        { return report.Percentiles(p.answers).P50 }
func (p tenth) reserveP50() float64 { return report.Percentiles(p.reserves).P50 }

func (p tenth) cpuPerOrder() float64 {
	total := 0.0
	for _, s := range p.cpuSeconds {
		total += s
	}
	return total * 1000 / float64(p.orders)
}

// place places n orders at the soak's rate, each retried with its
// Idempotency-Key until answered, one in traceEvery traced, and returns
// the tenth with their answer times.
func (s *soak) place(t *testing.T, part, n int) tenth {
	var mu sync.Mutex
	var latencies []time.Duration
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / time.Duration(s.rate))
	defer tick.Stop()
	for range n {
		<-tick.C
		s.mu.Lock()
		s.n++
		i := s.n
		tc := suite.NewTraceContext(i%s.traceEvery == 0)
		if tc.Sampled {
			s.traced[tc.TraceID] = part
		}
		s.mu.Unlock()
		wg.Go(func() {
			// SKUs in turn, not at random: each SKU's entry then holds the
			// same number of orders at every moment, so its largest entry
			// moves only if holds are kept longer than they should be (at
			// random, the busiest of ten SKUs held a quarter more at one
			// moment than at another: "bounded" failed a clean run).
			sku, quantity := s.skus[i%len(s.skus)], 1+rand.IntN(maxQuantity)
			key := "soak-" + strconv.Itoa(i)
			start := time.Now()
			status, _, err := suite.UntilAnswered(func() (int, error) {
				status, _, err := s.sys.TryPlaceOrderIn(tc, key, fmt.Sprintf("c-soak-%d", rand.IntN(soakCustomers)), sku, quantity)
				return status, err
			})
			took := time.Since(start)
			mu.Lock()
			latencies = append(latencies, took)
			mu.Unlock()
			s.mu.Lock()
			defer s.mu.Unlock()
			switch {
			case err != nil || status >= http.StatusInternalServerError:
				s.unanswered = append(s.unanswered, fmt.Sprintf("%s (%d, %v)", key, status, err))
			case status == http.StatusCreated:
				s.held[sku] += quantity
			}
		})
	}
	wg.Wait()
	return tenth{orders: n, answers: latencies}
}

// reserveTimes waits for the spans of every traced order's reservation
// (the exporters send them in batches) and returns their durations by the
// tenth the order was placed in, and the traces that have none.
func (s *soak) reserveTimes(traces *otlp.Receiver) (byTenth [tenths][]time.Duration, untraced []string) {
	ctx, cancel := context.WithTimeout(context.Background(), suite.TraceCompleteTimeout)
	defer cancel()
	type found struct {
		byTenth  [tenths][]time.Duration
		untraced []string
	}
	last, _ := proc.Await(ctx, func(context.Context) (found, bool) {
		var f found
		for id, part := range s.traced {
			n := len(f.byTenth[part])
			for _, span := range traces.Trace(id) {
				if span.Service == "inventory" && span.Scope == telemetry.ScopeName && span.Name == reserveSpan {
					f.byTenth[part] = append(f.byTenth[part], span.Duration())
				}
			}
			if len(f.byTenth[part]) == n {
				f.untraced = append(f.untraced, id)
			}
		}
		return f, len(f.untraced) == 0
	})
	return last.byTenth, last.untraced
}

// measure fills in what the processes used during the tenth (from their
// usage before and after it), what they and the state store hold now.
func (p *tenth) measure(t *testing.T, sys *suite.Shop, before, after map[string]proc.Usage) {
	t.Helper()
	p.cpuSeconds, p.rssMB, p.heapMB = map[string]float64{}, map[string]float64{}, map[string]float64{}
	for name, u := range after {
		p.cpuSeconds[name] = u.CPUSeconds - before[name].CPUSeconds
		p.rssMB[name] = float64(u.RSSBytes) / (1 << 20)
	}
	// Each app's heap, and each sidecar's (daprd's metrics carry Go's own
	// too): a process whose memory grows while its heap does not holds
	// memory it no longer uses; one whose heap grows leaks. The heap is
	// read as its goal, the size at which the next collection starts:
	// twice (GOGC=100) what the last one found live. It follows what the
	// process keeps; the heap in use at any moment also holds the garbage
	// made since the last collection, up to twice as much.
	for id, app := range sys.Apps {
		for name, url := range map[string]string{id: app.URL + "/metrics", "daprd-" + id: app.MetricsURL} {
			samples, err := system.Samples(suite.HTTPClient, url)
			if err != nil {
				t.Fatal(err)
			}
			if heap, ok := samples["go_memstats_next_gc_bytes"]; ok {
				p.heapMB[name] = heap / (1 << 20)
			}
		}
	}
	size, err := sys.Store.Size(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p.store = size
}

// record puts the tenth's figures in the report, each named with how far
// into the run it was measured.
func (p tenth) record(sc *report.ScenarioRecorder, percent int) {
	at := fmt.Sprintf(" at %d%%", percent)
	answers := report.Percentiles(p.answers)
	sc.Measure("answer p50"+at, answers.P50, "ms")
	sc.Measure("answer p99"+at, answers.P99, "ms")
	sc.Measure("CPU per order, every process"+at, p.cpuPerOrder(), "ms")
	sc.Measure("largest state entry"+at, float64(p.store.LargestValue), "bytes")
	sc.Measure("state store, all of it"+at, float64(p.store.Total)/(1<<20), "MB")
	sc.Measure("state store, its data"+at, float64(p.store.Data)/(1<<20), "MB")
	for _, name := range slices.Sorted(maps.Keys(p.rssMB)) {
		sc.Measure("resident memory of "+name+at, p.rssMB[name], "MB")
		sc.Measure("CPU per order of "+name+at, p.cpuSeconds[name]*1000/float64(p.orders), "ms")
	}
	for _, app := range slices.Sorted(maps.Keys(p.heapMB)) {
		sc.Measure("Go heap goal of "+app+at, p.heapMB[app], "MB")
	}
}
