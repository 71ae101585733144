package proc

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// PollInterval is how often WaitUntil asks again: short next to the second
// or so anything here takes to start, long enough not to load it.
const PollInterval = 200 * time.Millisecond

// Await asks observe every PollInterval until it reports done, and
// returns its last observation: what it saw when done or, when ctx ended
// first, what still held it back (the last observation made before ctx
// ended, not one made of a call that ctx cut short), with ctx's error. It
// gives up as soon as one of procs exits, with ErrExited and the end of
// that process's log: a process that died will not change what is
// observed, and its log says why.
//
// Every wait of the harness and the suites goes through it: a server
// listening, a sidecar healthy, every notification recorded.
func Await[T any](ctx context.Context, observe func(context.Context) (T, bool), procs ...*Process) (T, error) {
	ticker := time.NewTicker(PollInterval)
	defer ticker.Stop()
	var last T
	observed := false
	for {
		for _, p := range procs {
			select {
			case <-p.Exited():
				return last, fmt.Errorf("%s: %w: pid %d (%v); see %s:\n%s", p.spec.Name, ErrExited, p.PID(), p.Err(), p.Log(), Tail(p.Log(), 15))
			default:
			}
		}
		seen, done := observe(ctx)
		if done {
			return seen, nil
		}
		if ctx.Err() == nil || !observed {
			last, observed = seen, true
		}
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-ticker.C:
		}
	}
}

// WaitUntil asks ready every PollInterval until it returns nil, as Await
// does; when ctx ends first, the error says ready's last complaint.
func WaitUntil(ctx context.Context, ready func(context.Context) error, procs ...*Process) error {
	last, err := Await(ctx, func(ctx context.Context) (error, bool) {
		err := ready(ctx)
		return err, err == nil
	}, procs...)
	if errors.Is(err, ErrExited) || last == nil {
		return err
	}
	return fmt.Errorf("%w: last: %v", err, last)
}
