package suite

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/daprshop/daprshop/tests/harness/proc"
)

// Notifications records what NATS tells customers of each order: the
// statuses in the order they arrived, and when the first confirmation
// arrived.
type Notifications struct {
	mu    sync.Mutex
	told  map[string][]string // by order id
	first map[string]time.Time
}

// CollectNotifications records every notification on NATS from now until
// the test ends.
func (s *Shop) CollectNotifications(t testing.TB) *Notifications {
	t.Helper()
	n := &Notifications{told: map[string][]string{}, first: map[string]time.Time{}}
	nc := s.connectObserver(t)
	_, err := nc.Subscribe("notifications.>", func(msg *nats.Msg) {
		at := time.Now()
		var body struct{ OrderID, Status string }
		if json.Unmarshal(msg.Data, &body) != nil {
			return
		}
		n.mu.Lock()
		defer n.mu.Unlock()
		if _, ok := n.first[body.OrderID]; !ok && body.Status == "confirmed" {
			n.first[body.OrderID] = at
		}
		n.told[body.OrderID] = append(n.told[body.OrderID], body.Status)
	})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return n
}

// First returns when the first confirmation of order id arrived, and
// whether one did.
func (n *Notifications) First(id string) (time.Time, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	at, ok := n.first[id]
	return at, ok
}

// Confirmed says of each order in ids that confirmed is its final status:
// what Await and OutOfOrder take for orders none of which was cancelled.
func Confirmed(ids []string) map[string]string {
	final := make(map[string]string, len(ids))
	for _, id := range ids {
		final[id] = "confirmed"
	}
	return final
}

// Await waits up to timeout until every order in final (its final status,
// by order id) was told that status, and returns the orders still not
// told it and those told one status more than once.
func (n *Notifications) Await(final map[string]string, timeout time.Duration) (missing, dups []string) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	missing, _ = proc.Await(ctx, func(context.Context) ([]string, bool) {
		n.mu.Lock()
		defer n.mu.Unlock()
		missing, dups = nil, nil
		for _, id := range slices.Sorted(maps.Keys(final)) {
			told := n.told[id]
			if !slices.Contains(told, final[id]) {
				missing = append(missing, id)
			}
			if repeated := repeats(told); len(repeated) > 0 {
				dups = append(dups, fmt.Sprintf("%s: %s", id, strings.Join(repeated, ", ")))
			}
		}
		return missing, len(missing) == 0
	})
	return missing, dups
}

// OutOfOrder returns the orders in final whose notifications went back in
// their life, each with what its customer was told, in order (InOrder).
func (n *Notifications) OutOfOrder(final map[string]string) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var wrong []string
	for _, id := range slices.Sorted(maps.Keys(final)) {
		if told := n.told[id]; !InOrder(told, final[id]) {
			wrong = append(wrong, fmt.Sprintf("%s told %s, is %s", id, strings.Join(told, " then "), final[id]))
		}
	}
	return wrong
}

// lifeStage is where each status comes in an order's life: an order is
// confirmed or rejected, and a confirmed one may then be cancelled.
var lifeStage = map[string]int{"confirmed": 1, "rejected": 1, "cancelled": 2}

// InOrder reports whether statuses, what a customer was told of one order
// oldest first, never go back in the order's life and, once they tell its
// final status, end with it: the last thing a customer hears of an order
// is the truth. Repeats (a redelivery sent twice) are neither; a final
// status never told is for Await to report.
func InOrder(statuses []string, final string) bool {
	for i := 1; i < len(statuses); i++ {
		if lifeStage[statuses[i]] < lifeStage[statuses[i-1]] {
			return false
		}
	}
	return !slices.Contains(statuses, final) || statuses[len(statuses)-1] == final
}

// repeats returns the statuses that occur more than once in statuses.
func repeats(statuses []string) []string {
	var repeated []string
	seen := map[string]int{}
	for _, s := range statuses {
		if seen[s]++; seen[s] == 2 {
			repeated = append(repeated, s)
		}
	}
	return repeated
}

// Notification is a notification as a customer's history lists it.
type Notification struct {
	ID      string `json:"id"`
	OrderID string `json:"orderId"`
	Status  string `json:"status"`
}

// History returns customer's whole history of notifications, newest first,
// page by page.
func (s *Shop) History(t testing.TB, customer string) []Notification {
	t.Helper()
	var all []Notification
	cursor := ""
	for {
		var page struct {
			Notifications []Notification `json:"notifications"`
			Older         string         `json:"older"`
		}
		u := s.App(t, "notification").URL + "/notifications?limit=100&customerId=" + url.QueryEscape(customer)
		if cursor != "" {
			u += "&cursor=" + url.QueryEscape(cursor)
		}
		if status := s.Call(t, http.MethodGet, u, "", &page); status != http.StatusOK {
			t.Fatalf("history of %s: %d", customer, status)
		}
		all = append(all, page.Notifications...)
		if page.Older == "" {
			return all
		}
		cursor = page.Older
	}
}
