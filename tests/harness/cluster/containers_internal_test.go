package cluster

import (
	"testing"
	"time"
)

// cpuUsed reads both of the shapes ctr prints: the cgroup v1 stats this
// host's containerd gives, and cgroup v2's.
func TestCPUUsed(t *testing.T) {
	for _, tc := range []struct {
		name, metrics string
		want          time.Duration
		wantErr       bool
	}{
		{"cgroup v1", `{"pids":{"current":9},"cpu":{"usage":{"total":1500000000,"kernel":20000000,"user":1400000000,"per_cpu":[1,2]},"throttling":{}}}`, 1500 * time.Millisecond, false},
		{"cgroup v2", `{"pids":{"current":9},"cpu":{"usage_usec":2500000,"user_usec":2000000}}`, 2500 * time.Millisecond, false},
		{"no CPU", `{"pids":{"current":9}}`, 0, true},
		{"not JSON", `METRIC VALUE`, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := cpuUsed([]byte(tc.metrics))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("cpuUsed(%s) = %s, %v; want %s, error %t", tc.metrics, got, err, tc.want, tc.wantErr)
			}
		})
	}
}
