package bench

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/daprshop/daprshop/tests/harness/system"
	"github.com/daprshop/daprshop/tests/suite"
)

// What an order costs is the number and kind of calls it makes: the apps'
// calls to their sidecars' API, the calls between sidecars, what the
// sidecars ask of the components, and what those ask of the servers.
// calls counts them all, from the sidecars' own metrics and, on the Redis
// profile, from Redis's command statistics; a run's calls per order are
// the difference over the run divided by its orders.

// callFamilies are the sidecars' counters of what they do, each named as
// calls reports it.
var callFamilies = map[string]func(labels map[string]string) string{
	// The Dapr API (apps to their sidecars) and service invocation
	// between sidecars, by method: "Dapr/GetState",
	// "ServiceInvocation/CallLocal".
	"dapr_grpc_io_server_completed_rpcs": func(l map[string]string) string {
		return "grpc " + shortMethod(l["grpc_server_method"]) + failed(l["grpc_server_status"] != "OK")
	},
	"dapr_component_state_count": func(l map[string]string) string {
		return "state " + l["component"] + " " + l["operation"] + failed(l["success"] != "true")
	},
	"dapr_component_pubsub_egress_count": func(l map[string]string) string {
		return "publish " + l["component"] + " " + l["topic"] + failed(l["success"] != "true")
	},
	"dapr_component_pubsub_ingress_count": func(l map[string]string) string {
		return "deliver " + l["component"] + " " + l["topic"] + " " + strings.ToLower(l["process_status"])
	},
}

// shortMethod is a gRPC method without its package:
// "/dapr.proto.runtime.v1.Dapr/GetState" is "Dapr/GetState".
func shortMethod(method string) string {
	service, name, ok := strings.Cut(strings.TrimPrefix(method, "/"), "/")
	if !ok {
		return method
	}
	return service[strings.LastIndexByte(service, '.')+1:] + "/" + name
}

func failed(f bool) string {
	if f {
		return " (failed)"
	}
	return ""
}

// sampleLabel matches one label of a sample, name="value".
var sampleLabel = regexp.MustCompile(`(\w+)="([^"]*)"`)

// sidecarCalls names the calls counted in one scrape of a sidecar's
// metrics (system.Samples), each keyed "daprd-APP what".
func sidecarCalls(app string, samples map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for sample, v := range samples {
		family, labels, _ := strings.Cut(sample, "{")
		name, ok := callFamilies[family]
		if !ok {
			continue
		}
		l := map[string]string{}
		for _, m := range sampleLabel.FindAllStringSubmatch(labels, -1) {
			l[m[1]] = m[2]
		}
		out["daprd-"+app+" "+name(l)] += v
	}
	return out
}

// redisCommands reads INFO commandstats, each command's calls keyed
// "SERVER COMMAND".
func redisCommands(info, server string) (map[string]float64, error) {
	out := map[string]float64{}
	for line := range strings.Lines(info) {
		cmd, stats, ok := strings.Cut(strings.TrimSpace(line), ":")
		cmd, isCmd := strings.CutPrefix(cmd, "cmdstat_")
		if !ok || !isCmd {
			continue
		}
		calls, _, _ := strings.Cut(strings.TrimPrefix(stats, "calls="), ",")
		n, err := strconv.ParseFloat(calls, 64)
		if err != nil {
			return nil, fmt.Errorf("INFO commandstats: %q: %w", line, err)
		}
		out[server+" "+strings.ToUpper(cmd)] = n
	}
	return out, nil
}

// calls counts every call so far, by who made it and what it was.
func calls(t *testing.T, sys *suite.Shop) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	client := &http.Client{Timeout: 5 * time.Second}
	for id, a := range sys.Apps {
		samples, err := system.Samples(client, a.MetricsURL)
		if err != nil {
			t.Fatal(err)
		}
		maps.Copy(out, sidecarCalls(id, samples))
	}
	servers := map[string]*system.Redis{"redis": sys.Servers.Redis}
	if p := sys.Servers.PubSubRedis; p != nil && p != sys.Servers.Redis {
		servers["redis-pubsub"] = p
	}
	for name, r := range servers {
		if r == nil {
			continue // not the Redis profile
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		info, err := r.Client(t).Info(ctx, "commandstats").Result()
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		cmds, err := redisCommands(info, name)
		if err != nil {
			t.Fatal(err)
		}
		maps.Copy(out, cmds)
	}
	return out
}

// perOrder is what happened between two counts, per order.
func perOrder(before, after map[string]float64, orders int) map[string]float64 {
	out := map[string]float64{}
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			out[k] = d / float64(orders)
		}
	}
	return out
}

// callCount is how many calls of one kind an order makes.
type callCount struct {
	Call     string
	PerOrder float64
}

// callsMedian is every call kind's median per order over runs, in call
// order, with the totals per caller and level (totalOf).
func callsMedian(runs []pipelineRun) []callCount {
	kinds := map[string]bool{}
	for _, r := range runs {
		for k := range r.calls {
			kinds[k] = true
		}
	}
	totals := map[string]float64{}
	var out []callCount
	for _, k := range slices.Sorted(maps.Keys(kinds)) {
		v := median(runs, func(r pipelineRun) float64 { return r.calls[k] })
		if v < 0.005 {
			continue // not of an order: a probe, a reconnect
		}
		out = append(out, callCount{k, v})
		totals[totalOf(k)] += v
	}
	for _, k := range slices.Sorted(maps.Keys(totals)) {
		out = append(out, callCount{k, totals[k]})
	}
	return out
}

// totalOf is the total a call counts in: a sidecar's calls by level, as
// one call is counted at each (the API's GetState is also the store's
// get), "daprd-order grpc (all)", "daprd-order state (all)"; a server's
// commands all together, "redis (all)".
func totalOf(call string) string {
	caller, what, _ := strings.Cut(call, " ")
	if !strings.HasPrefix(caller, "daprd-") {
		return caller + " (all)"
	}
	level, _, _ := strings.Cut(what, " ")
	return caller + " " + level + " (all)"
}

func callsMarkdown(counts []callCount) string {
	if len(counts) == 0 {
		return ""
	}
	var s strings.Builder
	s.WriteString("\nWhat one order costs in calls, at the fixed rate (medians of the runs; the sidecars' own counters, Redis's INFO commandstats):\n\n")
	s.WriteString("| who | call | per order |\n| --- | --- | ---: |\n")
	for _, c := range counts {
		who, what, _ := strings.Cut(c.Call, " ")
		fmt.Fprintf(&s, "| %s | %s | %.2f |\n", who, what, c.PerOrder)
	}
	return s.String()
}

// The calls are named for who made them and what they were, from the
// sidecars' samples and Redis's statistics as they print them.
func TestCallNames(t *testing.T) {
	got := sidecarCalls("order", map[string]float64{
		`dapr_grpc_io_server_completed_rpcs{app_id="order",grpc_server_method="/dapr.proto.runtime.v1.Dapr/GetState",grpc_server_status="OK"}`:                      3,
		`dapr_grpc_io_server_completed_rpcs{app_id="order",grpc_server_method="/dapr.proto.internals.v1.ServiceInvocation/CallLocal",grpc_server_status="Unknown"}`: 1,
		`dapr_component_state_count{app_id="order",component="orderstore",namespace="",operation="get",success="true"}`:                                             2,
		`dapr_component_pubsub_egress_count{app_id="order",component="pubsub",namespace="",success="false",topic="orders"}`:                                         1,
		`dapr_component_pubsub_ingress_count{app_id="order",component="pubsub",namespace="",process_status="success",status="success",topic="orders"}`:              4,
		`dapr_http_server_request_count{app_id="order",method="GET",path="/v1.0/healthz"}`:                                                                          9,
	})
	want := map[string]float64{
		"daprd-order grpc Dapr/GetState":                        3,
		"daprd-order grpc ServiceInvocation/CallLocal (failed)": 1,
		"daprd-order state orderstore get":                      2,
		"daprd-order publish pubsub orders (failed)":            1,
		"daprd-order deliver pubsub orders success":             4,
	}
	if !maps.Equal(got, want) {
		t.Errorf("sidecarCalls = %v, want %v", got, want)
	}
	cmds, err := redisCommands("# Commandstats\r\ncmdstat_get:calls=12,usec=30,usec_per_call=2.50,rejected_calls=0,failed_calls=0\r\ncmdstat_xadd:calls=4,usec=9\r\n", "redis")
	if want := map[string]float64{"redis GET": 12, "redis XADD": 4}; err != nil || !maps.Equal(cmds, want) {
		t.Errorf("redisCommands = %v, %v; want %v", cmds, err, want)
	}
	for call, want := range map[string]string{
		"daprd-order grpc Dapr/GetState":   "daprd-order grpc (all)",
		"daprd-order state orderstore get": "daprd-order state (all)",
		"redis XADD":                       "redis (all)",
	} {
		if got := totalOf(call); got != want {
			t.Errorf("totalOf(%q) = %q, want %q", call, got, want)
		}
	}
	if _, err := redisCommands("cmdstat_get:calls=many\r\n", "redis"); err == nil {
		t.Error("redisCommands of a count that is not a number: no error")
	}
	before := map[string]float64{"a": 10, "b": 5}
	after := map[string]float64{"a": 30, "b": 5, "c": 4}
	if got, want := perOrder(before, after, 4), map[string]float64{"a": 5, "c": 1}; !maps.Equal(got, want) {
		t.Errorf("perOrder = %v, want %v", got, want)
	}
}
