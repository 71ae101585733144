package proc

import "testing"

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
