// Package contracttest is what the services' contract suites (ordertest,
// inventorytest, notificationtest) share, so that every adapter, and every
// fake, is held to the same bounds: how long one call may take, and how
// many writers race for one key.
package contracttest

import (
	"context"
	"testing"
	"time"
)

// CallTimeout bounds one call a suite makes: a real adapter reached through
// a sidecar that is gone would wait for it for ever, and a hung call should
// fail its subtest, not the whole test binary.
const CallTimeout = 30 * time.Second

// Writers is how many goroutines race for one key in the concurrency
// subtests: enough that, against a real store, writes collide, few enough
// to stay within daprstate's bound on retries.
const Writers = 8

// Context returns a context for one subtest's calls, cancelled after
// CallTimeout or when the subtest ends.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), CallTimeout)
	t.Cleanup(cancel)
	return ctx
}
