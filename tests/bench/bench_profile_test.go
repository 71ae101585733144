package bench

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	"github.com/daprshop/daprshop/tests/suite"
)

// cpuProfiles asks every app's profiler for a CPU profile of the next d, and
// returns a function that waits for them, keeps each as dir/<app>.pprof (for
// `go tool pprof`) and returns them parsed, by app id.
func cpuProfiles(t *testing.T, sys *suite.Shop, d time.Duration, dir string) func() map[string]*profile.Profile {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	type result struct {
		app  string
		prof *profile.Profile
		err  error
	}
	results := make(chan result, len(sys.Apps))
	client := &http.Client{Timeout: d + 30*time.Second}
	for id, a := range sys.Apps {
		go func() {
			p, err := fetchProfile(client, fmt.Sprintf("%s/profile?seconds=%d", a.ProfilerURL, int(d/time.Second)), filepath.Join(dir, id+".pprof"))
			results <- result{id, p, err}
		}()
	}
	return func() map[string]*profile.Profile {
		t.Helper()
		out := map[string]*profile.Profile{}
		for range sys.Apps {
			r := <-results
			if r.err != nil {
				t.Fatalf("CPU profile of %s: %v", r.app, r.err)
			}
			out[r.app] = r.prof
		}
		return out
	}
}

func fetchProfile(client *http.Client, url, path string) (*profile.Profile, error) {
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, data)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return nil, err
	}
	return profile.Parse(bytes.NewReader(data))
}

// cpuShare is the part of an app's CPU time spent on one kind of work.
type cpuShare struct {
	Kind     string
	Fraction float64
}

// The kinds of work a sample is put under, by the package of the frame
// nearest its leaf that is not the Go runtime's: a sample in the kernel or
// the allocator counts for the code that asked for it. Samples with
// nothing but runtime frames are the runtime's own work (garbage
// collection, scheduling).
var cpuKinds = []struct {
	kind     string
	prefixes []string
}{
	{"daprshop code", []string{"github.com/daprshop/"}},
	{"JSON", []string{"encoding/json."}},
	{"gRPC, protobuf and the Dapr SDK", []string{"google.golang.org/grpc", "github.com/dapr/go-sdk", "google.golang.org/protobuf", "golang.org/x/net/http2", "google.golang.org/genproto"}},
	{"HTTP serving (net/http, gin)", []string{"net/http.", "net/textproto.", "github.com/gin-gonic/", "net.", "bufio.", "mime."}},
	{"telemetry (OTel, Prometheus, slog)", []string{"go.opentelemetry.io/", "github.com/prometheus/", "log/slog."}},
	{"NATS client", []string{"github.com/nats-io/"}},
}

const runtimeKind = "Go runtime (GC, scheduler)"

// runtimePrefixes are the packages of the Go runtime and the low-level
// packages every kind of work passes through.
var runtimePrefixes = []string{"runtime.", "internal/", "syscall.", "sync.", "sync/atomic.", "time.", "context.", "reflect.", "strconv.", "unicode/", "bytes.", "strings.", "fmt.", "errors.", "io.", "sort.", "slices.", "maps.", "os.", "math/"}

func hasAnyPrefix(s string, prefixes []string) bool {
	return slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(s, p) })
}

// cpuBreakdown puts every sample of p under a kind of work and returns the
// kinds with their share of the CPU time, largest first, and the CPU
// seconds the profile holds.
func cpuBreakdown(p *profile.Profile) ([]cpuShare, float64) {
	value := slices.IndexFunc(p.SampleType, func(st *profile.ValueType) bool { return st.Type == "cpu" })
	byKind := map[string]int64{}
	var total int64
	for _, s := range p.Sample {
		v := s.Value[value]
		total += v
		byKind[sampleKind(s)] += v
	}
	var shares []cpuShare
	for kind, v := range byKind {
		shares = append(shares, cpuShare{Kind: kind, Fraction: float64(v) / float64(total)})
	}
	slices.SortFunc(shares, func(a, b cpuShare) int { return cmp.Compare(b.Fraction, a.Fraction) }) // largest first
	return shares, time.Duration(total).Seconds()
}

func sampleKind(s *profile.Sample) string {
	for _, loc := range s.Location { // leaf first
		for _, line := range loc.Line {
			if line.Function == nil || hasAnyPrefix(line.Function.Name, runtimePrefixes) {
				continue
			}
			for _, k := range cpuKinds {
				if hasAnyPrefix(line.Function.Name, k.prefixes) {
					return k.kind
				}
			}
			return "other"
		}
	}
	return runtimeKind
}

// appProfile is what one app spends its CPU time on, per order.
type appProfile struct {
	App               string
	CPUMillisPerOrder float64
	Shares            []cpuShare
}

func appProfiles(profiles map[string]*profile.Profile, orders int) []appProfile {
	var out []appProfile
	for _, app := range slices.Sorted(maps.Keys(profiles)) {
		shares, seconds := cpuBreakdown(profiles[app])
		out = append(out, appProfile{App: app, CPUMillisPerOrder: seconds * 1000 / float64(orders), Shares: shares})
	}
	return out
}

// profilesMarkdown is a table of kinds of work by app: the share of each
// app's CPU time, and that time per order.
func profilesMarkdown(profiles []appProfile) string {
	if len(profiles) == 0 {
		return ""
	}
	var s strings.Builder
	s.WriteString("\nWhat the apps spend their CPU time on (CPU profiles of the first run at the fixed rate, in profiles/; ms per order):\n\n| kind of work |")
	for _, p := range profiles {
		fmt.Fprintf(&s, " %s |", p.App)
	}
	s.WriteString("\n| --- |" + strings.Repeat(" ---: |", len(profiles)) + "\n")
	var kinds []string
	for _, p := range profiles {
		for _, sh := range p.Shares {
			if !slices.Contains(kinds, sh.Kind) {
				kinds = append(kinds, sh.Kind)
			}
		}
	}
	for _, kind := range append(kinds, "all") {
		fmt.Fprintf(&s, "| %s |", kind)
		for _, p := range profiles {
			f := 1.0
			if kind != "all" {
				i := slices.IndexFunc(p.Shares, func(sh cpuShare) bool { return sh.Kind == kind })
				if i < 0 {
					s.WriteString(" – |")
					continue
				}
				f = p.Shares[i].Fraction
			}
			fmt.Fprintf(&s, " %.2f (%.0f%%) |", f*p.CPUMillisPerOrder, 100*f)
		}
		s.WriteString("\n")
	}
	return s.String()
}
