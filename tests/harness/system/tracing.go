package system

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"
)

// sidecarConfig returns the Configuration file a sidecar runs with: a copy
// of the run file's, which traces every request to opts.TraceEndpoint, or
// has no tracing at all when there is no endpoint (nothing would receive
// the spans) or opts.SidecarTracingOff.
func sidecarConfig(t testing.TB, path string, opts Options) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	spec, _ := cfg["spec"].(map[string]any)
	if spec == nil {
		t.Fatalf("%s: no spec", path)
	}
	if opts.TraceEndpoint == "" || opts.SidecarTracingOff {
		delete(spec, "tracing")
	} else {
		tracing, _ := spec["tracing"].(map[string]any)
		otel, _ := tracing["otel"].(map[string]any)
		if otel == nil {
			t.Fatalf("%s: no spec.tracing.otel to point at %s", path, opts.TraceEndpoint)
		}
		otel["endpointAddress"] = opts.TraceEndpoint
		tracing["samplingRate"] = "1"
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(dst, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// appTraceEnv is what points the apps' OTLP exporters at
// opts.TraceEndpoint. The apps alone get it: daprd reads the same standard
// variable and would trace whatever its Configuration says.
func appTraceEnv(opts Options) []string {
	if opts.TraceEndpoint == "" {
		return nil
	}
	return []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + fmt.Sprintf("http://%s", opts.TraceEndpoint)}
}
