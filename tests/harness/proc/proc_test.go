package proc

import (
	"errors"
	"testing"
	"time"
)

func TestFreePortNeverRepeats(t *testing.T) {
	seen := map[int]bool{}
	for range 500 {
		p := FreePort(t)
		if seen[p] {
			t.Fatalf("port %d returned twice", p)
		}
		if p < firstPort || p > lastPort {
			t.Fatalf("port %d outside %d-%d", p, firstPort, lastPort)
		}
		seen[p] = true
	}
}

func TestUsageReadsCPUAndMemory(t *testing.T) {
	p := Start(t, Spec{Name: "busy", Path: "/bin/sh", Args: []string{"-c", "trap 'exit 0' INT; while :; do :; done"}, LogDir: t.TempDir()})
	deadline := time.Now().Add(5 * time.Second)
	for {
		u, err := p.Usage()
		if err != nil {
			t.Fatal(err)
		}
		if u.CPUSeconds > 0 && u.RSSBytes > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a busy loop used %+v after 5s, want CPU time and memory", u)
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.Stop()
	if _, err := p.Usage(); !errors.Is(err, ErrExited) {
		t.Errorf("Usage of a stopped process: got %v, want ErrExited", err)
	}
}
