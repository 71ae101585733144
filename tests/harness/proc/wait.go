package proc

import (
	"context"
	"fmt"
	"time"
)

// PollInterval is how often WaitUntil asks again: short next to the second
// or so anything here takes to start, long enough not to load it.
const PollInterval = 200 * time.Millisecond

// WaitUntil asks ready every PollInterval until it returns nil. It gives up
// when ctx ends, with ready's last error (the last one it gave before ctx
// ended, not its complaint about ctx ending mid-call), and as soon as one of procs exits,
// with ErrExited and the end of that process's log: a process that died
// will not become ready, and its log says why.
//
// Every wait of the harness goes through it: a server listening, a sidecar
// healthy, an API server ready.
func WaitUntil(ctx context.Context, ready func(context.Context) error, procs ...*Process) error {
	ticker := time.NewTicker(PollInterval)
	defer ticker.Stop()
	var observed error
	for {
		for _, p := range procs {
			select {
			case <-p.Exited():
				return fmt.Errorf("%s: %w: pid %d (%v); see %s:\n%s", p.spec.Name, ErrExited, p.PID(), p.Err(), p.Log(), Tail(p.Log(), 15))
			default:
			}
		}
		last := ready(ctx)
		if last == nil {
			return nil
		}
		if ctx.Err() == nil || observed == nil {
			observed = last
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: last: %v", ctx.Err(), observed)
		case <-ticker.C:
		}
	}
}
