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

	"github.com/redis/go-redis/v9"

	"github.com/daprshop/daprshop/internal/config"
	"github.com/daprshop/daprshop/tests/harness/knobs"
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

// flatRatio is how much a figure may grow from the baseline to the last
// tenth and still count as flat.
const flatRatio = 1.2

// cancellationWindow is the apps' CANCELLATION_WINDOW in the soak: short,
// so that orders' holds are fulfilled (a tenth of it later) well within
// the first tenths of a run and a SKU's entry reaches the size it keeps.
const cancellationWindow = 20 * time.Second

// TestSoak places SOAK_ORDERS orders at SOAK_RATE a second and measures
// each tenth of the run. Its invariants are named "flat" (the answer's p50,
// the CPU an order costs, each process's memory and each Go process's heap)
// and "bounded" (the largest state entry), each the last tenth held to the
// second (the first being warm-up); and, whatever the figures, every order
// answered and stock conserved.
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
	sys := suite.Start(t, sc, system.Options{AppEnv: map[string]string{config.EnvCancellationWindow: cancellationWindow.String()}})
	skus := make([]string, soakSKUs)
	stockEach := orders * maxQuantity / soakSKUs
	for i := range skus {
		skus[i] = fmt.Sprintf("SOAK-%d", i+1)
		for left := stockEach; left > 0; left -= min(left, 1_000_000) {
			sys.Restock(t, skus[i], min(left, 1_000_000))
		}
	}

	s := &soak{sys: sys, skus: skus, rate: rate, held: map[string]int{}}
	parts := make([]tenth, tenths)
	before := sys.Usage()
	for i := range parts {
		sc.Phase(fmt.Sprintf("%d%% of %d orders", (i+1)*100/tenths, orders))
		parts[i] = s.place(t, orders/tenths)
		after := sys.Usage()
		parts[i].measure(t, sys, before, after)
		before = after
		parts[i].record(sc, (i+1)*100/tenths)
	}
	sc.Resources(suite.Resources(before))
	drained := sys.AwaitDrained(t, time.Minute)
	sc.Check("every event consumed", drained == nil, "every stream's consumer groups caught up within 1m", fmt.Sprint(drained))

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

	base, last := parts[1], parts[tenths-1]
	flat := func(name, unit string, first, final float64) {
		sc.Check(name, final <= first*flatRatio, fmt.Sprintf("at 100%% at most %.1f× the %s at 20%%", flatRatio, unit),
			fmt.Sprintf("%.4g at 20%%, %.4g at 100%% (%.2f×)", first, final, final/first))
	}
	flat("flat: p50 of an answer", "p50", base.p50, last.p50)
	flat("flat: CPU per order, every process", "CPU per order", base.cpuPerOrder(), last.cpuPerOrder())
	sc.Check("bounded: the largest state entry", float64(last.largestEntry) <= float64(base.largestEntry)*flatRatio,
		fmt.Sprintf("at 100%% at most %.1f× its size at 20%%", flatRatio),
		fmt.Sprintf("%d bytes at 20%% (%s), %d at 100%% (%s)", base.largestEntry, base.largestKey, last.largestEntry, last.largestKey))
	// Redis keeps the shop's records (every order, every notification
	// sent), so its memory grows with the orders by design: what must stay
	// flat is what each order adds to it.
	perOrder := func(from, to tenth) float64 { return (to.redisMB - from.redisMB) * (1 << 20) / float64(to.orders) }
	flat("flat: Redis memory an order adds", "bytes an order added", perOrder(parts[0], base), perOrder(parts[tenths-2], last))
	for _, p := range slices.Sorted(maps.Keys(last.rssMB)) {
		if p == "redis" || p == "redis-pubsub" {
			continue
		}
		flat("flat: memory of "+p, "resident memory", base.rssMB[p], last.rssMB[p])
	}
	for _, app := range slices.Sorted(maps.Keys(last.heapMB)) {
		flat("flat: Go heap of "+app, "heap in use", base.heapMB[app], last.heapMB[app])
	}
}

// soak is what the run's clients share.
type soak struct {
	sys  *suite.Shop
	skus []string
	rate int

	mu         sync.Mutex
	n          int
	held       map[string]int // by SKU, what confirmed orders hold
	unanswered []string
}

// tenth is what one tenth of the run measured.
type tenth struct {
	orders       int
	p50, p99     float64 // ms
	cpuSeconds   map[string]float64
	rssMB        map[string]float64
	heapMB       map[string]float64
	largestEntry int
	largestKey   string
	redisMB      float64
}

func (p tenth) cpuPerOrder() float64 {
	total := 0.0
	for _, s := range p.cpuSeconds {
		total += s
	}
	return total * 1000 / float64(p.orders)
}

// place places n orders at the soak's rate, each retried with its
// Idempotency-Key until answered, and returns their answer times.
func (s *soak) place(t *testing.T, n int) tenth {
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
		s.mu.Unlock()
		wg.Go(func() {
			sku, quantity := s.skus[rand.IntN(len(s.skus))], 1+rand.IntN(maxQuantity)
			key := "soak-" + strconv.Itoa(i)
			start := time.Now()
			status, _, err := suite.UntilAnswered(func() (int, error) {
				status, _, err := s.sys.TryPlaceOrder(key, fmt.Sprintf("c-soak-%d", rand.IntN(soakCustomers)), sku, quantity)
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
	l := report.Percentiles(latencies)
	return tenth{orders: n, p50: l.P50, p99: l.P99}
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
	// memory it no longer uses; one whose heap grows leaks.
	for id, app := range sys.Apps {
		for name, url := range map[string]string{id: app.URL + "/metrics", "daprd-" + id: app.MetricsURL} {
			samples, err := system.Samples(suite.HTTPClient, url)
			if err != nil {
				t.Fatal(err)
			}
			if heap, ok := samples["go_memstats_heap_inuse_bytes"]; ok {
				p.heapMB[name] = heap / (1 << 20)
			}
		}
	}
	rdb := sys.Redis.Client(t)
	p.largestKey, p.largestEntry = largestEntry(t, rdb)
	mem, err := rdb.InfoMap(context.Background(), "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	used, _ := strconv.ParseFloat(mem["Memory"]["used_memory"], 64)
	p.redisMB = used / (1 << 20)
}

// largestEntry returns the state entry (a Dapr state key: a hash whose
// field "data" holds the value) with the largest value, and its size.
func largestEntry(t *testing.T, rdb *redis.Client) (string, int) {
	t.Helper()
	ctx := context.Background()
	largestKey, largest := "", 0
	iter := rdb.ScanType(ctx, 0, "*", 1000, "hash").Iterator()
	var keys []string
	flush := func() {
		pipe := rdb.Pipeline()
		sizes := make([]*redis.IntCmd, len(keys))
		for i, k := range keys {
			sizes[i] = pipe.HStrLen(ctx, k, "data")
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
		for i, s := range sizes {
			if n := int(s.Val()); n > largest {
				largestKey, largest = keys[i], n
			}
		}
		keys = keys[:0]
	}
	for iter.Next(ctx) {
		if keys = append(keys, iter.Val()); len(keys) == 1000 {
			flush()
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	flush()
	return largestKey, largest
}

// record puts the tenth's figures in the report, each named with how far
// into the run it was measured.
func (p tenth) record(sc *report.ScenarioRecorder, percent int) {
	at := fmt.Sprintf(" at %d%%", percent)
	sc.Measure("answer p50"+at, p.p50, "ms")
	sc.Measure("answer p99"+at, p.p99, "ms")
	sc.Measure("CPU per order, every process"+at, p.cpuPerOrder(), "ms")
	sc.Measure("largest state entry"+at, float64(p.largestEntry), "bytes")
	sc.Measure("Redis memory"+at, p.redisMB, "MB")
	for _, name := range slices.Sorted(maps.Keys(p.rssMB)) {
		sc.Measure("resident memory of "+name+at, p.rssMB[name], "MB")
		sc.Measure("CPU per order of "+name+at, p.cpuSeconds[name]*1000/float64(p.orders), "ms")
	}
	for _, app := range slices.Sorted(maps.Keys(p.heapMB)) {
		sc.Measure("Go heap of "+app+at, p.heapMB[app], "MB")
	}
}
