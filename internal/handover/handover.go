// Package handover keeps a terminating instance of an app serving until its
// callers can find another one.
//
// On Kubernetes, a caller's Dapr sidecar reaches an app through the app's
// headless Service (NAME-dapr), which lists the addresses of its ready pods,
// and keeps calling the address it has until that stops answering. A pod
// told to stop is taken out of the Service at once, but it must go on
// serving until a successor is listed there: a single replica that stopped
// before its replacement was ready left every call failing for as long as
// the replacement took to start, and then for as long again as the
// caller's resolver took to ask anew. Await is what the app's preStop hook
// runs (`inventory await-successor`).
package handover

import (
	"context"
	"fmt"
	"net"
	"slices"
	"time"
)

// Wait says how long Await waits: at least Min, however soon a successor is
// listed (a caller's resolver asks again at most every 30 s, so a pod that
// stops sooner may still be the only address it has); then until one is,
// polling every Poll; at most Max.
type Wait struct {
	Min, Max, Poll time.Duration
}

// Validate refuses a wait that cannot be kept.
func (w Wait) Validate() error {
	switch {
	case w.Min < 0 || w.Poll <= 0:
		return fmt.Errorf("handover: min %s and poll %s: want min >= 0 and poll > 0", w.Min, w.Poll)
	case w.Max < w.Min:
		return fmt.Errorf("handover: max %s is below min %s", w.Max, w.Min)
	}
	return nil
}

// Resolver looks a host name up, as *net.Resolver does.
type Resolver interface {
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// Outcome is what Await saw.
type Outcome struct {
	// Successor is an address host listed that is not one of own; empty
	// when Max passed without one.
	Successor string
	// Waited is how long Await took.
	Waited time.Duration
}

// Await returns once host resolves to an address that is not one of own
// (the instance's own addresses) and w.Min has passed, or once w.Max has
// passed; or when ctx ends, with its error. A failed lookup (no ready pod
// yet: the name has no address) is asked again at the next poll.
func Await(ctx context.Context, r Resolver, host string, own []string, w Wait) (Outcome, error) {
	if err := w.Validate(); err != nil {
		return Outcome{}, err
	}
	start := time.Now()
	minimum := time.NewTimer(w.Min)
	defer minimum.Stop()
	deadline := time.NewTimer(w.Max)
	defer deadline.Stop()
	poll := time.NewTicker(w.Poll)
	defer poll.Stop()

	var successor string
	minPassed := w.Min == 0
	for {
		if successor == "" {
			successor = lookupOther(ctx, r, host, own)
		}
		if successor != "" && minPassed {
			return Outcome{Successor: successor, Waited: time.Since(start)}, nil
		}
		select {
		case <-ctx.Done():
			return Outcome{Successor: successor, Waited: time.Since(start)}, ctx.Err()
		case <-deadline.C:
			return Outcome{Successor: successor, Waited: time.Since(start)}, nil
		case <-minimum.C:
			minPassed = true
		case <-poll.C:
		}
	}
}

// lookupOther returns an address host resolves to that is not one of own,
// or "" when there is none (or the lookup failed).
func lookupOther(ctx context.Context, r Resolver, host string, own []string) string {
	addrs, err := r.LookupHost(ctx, host)
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if !slices.Contains(own, a) {
			return a
		}
	}
	return ""
}

// OwnAddresses are the IP addresses of this network namespace's
// interfaces: on Kubernetes, the pod's.
func OwnAddresses() ([]string, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("handover: own addresses: %w", err)
	}
	own := make([]string, 0, len(addrs))
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			own = append(own, n.IP.String())
		}
	}
	return own, nil
}
