package suite

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// Notifications counts the confirmed-order notifications seen on NATS, by
// order id, and notes when the first of each arrived.
type Notifications struct {
	mu    sync.Mutex
	seen  map[string]int
	first map[string]time.Time
}

// CollectNotifications counts every confirmed-order notification on NATS
// from now until the test ends.
func (s *Shop) CollectNotifications(t testing.TB) *Notifications {
	t.Helper()
	n := &Notifications{seen: map[string]int{}, first: map[string]time.Time{}}
	nc := s.connectObserver(t)
	_, err := nc.Subscribe("notifications.>", func(msg *nats.Msg) {
		at := time.Now()
		var body struct{ OrderID, Status string }
		if json.Unmarshal(msg.Data, &body) != nil || body.Status != "confirmed" {
			return
		}
		n.mu.Lock()
		if n.seen[body.OrderID]++; n.seen[body.OrderID] == 1 {
			n.first[body.OrderID] = at
		}
		n.mu.Unlock()
	})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return n
}

// First returns when the first notification of order id arrived, and
// whether one did.
func (n *Notifications) First(id string) (time.Time, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	at, ok := n.first[id]
	return at, ok
}

// Await waits up to timeout for a notification of every order in ids, and
// returns the orders still missing one and those notified more than once.
func (n *Notifications) Await(ids []string, timeout time.Duration) (missing, dups []string) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		n.mu.Lock()
		missing, dups = nil, nil
		for _, id := range ids {
			switch c := n.seen[id]; {
			case c == 0:
				missing = append(missing, id)
			case c > 1:
				dups = append(dups, fmt.Sprintf("%s×%d", id, c))
			}
		}
		n.mu.Unlock()
		if len(missing) == 0 || ctx.Err() != nil {
			return missing, dups
		}
		time.Sleep(200 * time.Millisecond)
	}
}
