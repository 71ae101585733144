package handover

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// listing answers each lookup with the next of its answers, the last one
// for ever after; an empty answer is a failed lookup, as a headless
// Service with no ready pod gives.
type listing struct {
	mu      sync.Mutex
	answers [][]string
	asked   int
}

func (l *listing) LookupHost(_ context.Context, host string) ([]string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.answers[min(l.asked, len(l.answers)-1)]
	l.asked++
	if len(a) == 0 {
		return nil, errors.New("lookup " + host + ": no such host")
	}
	return a, nil
}

const self = "10.0.0.7"

func TestAwaitReturnsWhenASuccessorIsListed(t *testing.T) {
	// Listed: nothing, then only this pod (a resolver's stale answer),
	// then the successor beside it.
	r := &listing{answers: [][]string{nil, {self}, {self, "10.0.0.9"}}}
	got, err := Await(context.Background(), r, "inventory-dapr", []string{"127.0.0.1", self}, Wait{Max: time.Hour, Poll: time.Millisecond})
	if err != nil || got.Successor != "10.0.0.9" || r.asked != 3 {
		t.Fatalf("Await = %+v, %v after %d lookups; want successor 10.0.0.9 after 3", got, err, r.asked)
	}
}

func TestAwaitServesAtLeastMin(t *testing.T) {
	r := &listing{answers: [][]string{{"10.0.0.9"}}}
	w := Wait{Min: 50 * time.Millisecond, Max: time.Hour, Poll: time.Millisecond}
	got, err := Await(context.Background(), r, "inventory-dapr", []string{self}, w)
	if err != nil || got.Successor != "10.0.0.9" || got.Waited < w.Min {
		t.Fatalf("Await = %+v, %v; want successor 10.0.0.9 after %s at least", got, err, w.Min)
	}
}

func TestAwaitGivesUpAtMax(t *testing.T) {
	r := &listing{answers: [][]string{{self}}}
	w := Wait{Min: 10 * time.Millisecond, Max: 40 * time.Millisecond, Poll: time.Millisecond}
	got, err := Await(context.Background(), r, "inventory-dapr", []string{self}, w)
	if err != nil || got.Successor != "" || got.Waited < w.Max {
		t.Fatalf("Await = %+v, %v; want no successor after %s", got, err, w.Max)
	}
}

func TestAwaitEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	r := &listing{answers: [][]string{nil}}
	_, err := Await(ctx, r, "inventory-dapr", nil, Wait{Max: time.Hour, Poll: time.Millisecond})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Await = %v; want the context's deadline", err)
	}
}

func TestWaitValidate(t *testing.T) {
	for _, w := range []Wait{
		{Min: time.Minute, Max: time.Second, Poll: time.Second},
		{Min: -time.Second, Max: time.Second, Poll: time.Second},
		{Max: time.Second},
	} {
		if err := w.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil; want an error", w)
		}
		if _, err := Await(context.Background(), &listing{answers: [][]string{{"10.0.0.9"}}}, "h", nil, w); err == nil {
			t.Errorf("Await with %+v = nil error; want the wait refused", w)
		}
	}
}

func TestOwnAddressesHasLoopback(t *testing.T) {
	own, err := OwnAddresses()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range own {
		if a == "127.0.0.1" || a == "::1" {
			return
		}
	}
	t.Fatalf("OwnAddresses() = %v; want the loopback among them", own)
}
