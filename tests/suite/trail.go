package suite

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/daprshop/daprshop/tests/harness/system"
)

// EventTrail says where an event got to, for a finding to name the link
// that broke rather than only the notification that never came: what the
// broker shows of it (system.Broker.Trail), then whether the notification
// service holds a claim on it or recorded it.
func (s *Shop) EventTrail(t testing.TB, eventID string) string {
	t.Helper()
	ctx := context.Background()
	trail := s.Broker.Trail(ctx, eventID)
	for _, key := range []string{"claim:" + eventID, "notification:" + eventID} {
		state := "absent"
		if _, ok, err := s.Store.State(ctx, "notification", key); err != nil {
			state = err.Error()
		} else if ok {
			state = "present"
		}
		trail = append(trail, "notification||"+key+" "+state)
	}
	return eventID + ": " + strings.Join(trail, "; ")
}

// AwaitDrained waits up to timeout for the broker to hold nothing unhandled
// (system.AwaitDrained), and returns what is left when it gives up.
func (s *Shop) AwaitDrained(t testing.TB, timeout time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return system.AwaitDrained(ctx, s.Broker, "")
}
