package system

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestUntimedOperations(t *testing.T) {
	samples := map[string]float64{
		`dapr_component_state_count{app_id="order",operation="get",success="true"}`:                   6,
		`dapr_component_state_latencies_count{app_id="order",operation="get",success="true"}`:         2,
		`dapr_component_state_count{app_id="order",operation="set",success="true"}`:                   3,
		`dapr_component_state_latencies_count{app_id="order",operation="set",success="true"}`:         3,
		`dapr_component_pubsub_egress_count{app_id="order",success="true",topic="orders"}`:            1,
		`dapr_component_pubsub_ingress_latencies_count{app_id="order",process_status="success"}`:      4, // no count: not compared
		`dapr_component_state_latencies_bucket{app_id="order",operation="set",success="true",le="1"}`: 3,
	}
	gaps, series := UntimedOperations(samples)
	want := []string{
		`dapr_component_pubsub_egress{app_id="order",success="true",topic="orders"}: counted 1, timed 0`,
		`dapr_component_state{app_id="order",operation="get",success="true"}: counted 6, timed 2`,
	}
	if !slices.Equal(gaps, want) || series != 3 {
		t.Errorf("UntimedOperations: got %q over %d series, want %q over 3", gaps, series, want)
	}
}

func TestPanicMessage(t *testing.T) {
	log := filepath.Join(t.TempDir(), "daprd.log")
	text := `{"level":"info","msg":"starting"}
panic: interface conversion: interface {} is float64, not string

goroutine 123 [running]:
github.com/dapr/dapr/pkg/runtime/subscription/postman/http.(*http).Deliver(0xc0001, {0x4f7, 0xc0002}, 0xc0003)
	/src/pkg/runtime/subscription/postman/http/http.go:89 +0x1f
`
	if err := os.WriteFile(log, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	want := "panic: interface conversion: interface {} is float64, not string in " +
		"github.com/dapr/dapr/pkg/runtime/subscription/postman/http.(*http).Deliver"
	if got := PanicMessage(log); got != want {
		t.Errorf("PanicMessage: got %q, want %q", got, want)
	}
	if got := PanicMessage(filepath.Join(t.TempDir(), "none.log")); got != "" {
		t.Errorf("PanicMessage of a missing log: got %q, want \"\"", got)
	}
}
