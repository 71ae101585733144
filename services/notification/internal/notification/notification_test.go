package notification_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/daprshop/daprshop/internal/events"
	"github.com/daprshop/daprshop/services/notification/internal/notification"
)

type fakeSender struct {
	sent []notification.Notification
	err  error
}

func (f *fakeSender) Send(_ context.Context, n notification.Notification) error {
	if f.err != nil {
		return f.err
	}
	f.sent = append(f.sent, n)
	return nil
}

type fakeStore struct {
	claims    map[string]bool
	recorded  map[string]notification.Notification
	history   map[string][]string
	recordErr error
}

func newFakeStore() *fakeStore {
	return &fakeStore{claims: map[string]bool{}, recorded: map[string]notification.Notification{}, history: map[string][]string{}}
}

func (f *fakeStore) Unclaim(_ context.Context, id string) error {
	delete(f.claims, id)
	return nil
}

func (f *fakeStore) Claim(_ context.Context, id string) (bool, error) {
	if f.claims[id] {
		return false, nil
	}
	f.claims[id] = true
	return true, nil
}

func (f *fakeStore) Delivered(_ context.Context, id string) (bool, error) {
	_, ok := f.recorded[id]
	return ok, nil
}

func (f *fakeStore) Record(_ context.Context, n notification.Notification) error {
	if f.recordErr != nil {
		return f.recordErr
	}
	f.recorded[n.ID] = n
	return nil
}

func (f *fakeStore) AddToHistory(_ context.Context, customerID, id string) error {
	if !slices.Contains(f.history[customerID], id) {
		f.history[customerID] = append(f.history[customerID], id)
	}
	return nil
}

func (f *fakeStore) History(_ context.Context, customerID string) ([]notification.Notification, error) {
	var out []notification.Notification
	for _, id := range f.history[customerID] {
		out = append(out, f.recorded[id])
	}
	return out, nil
}

func confirmed(eventID string) events.Order {
	return events.Order{
		EventID: eventID, Type: events.TypeOrderConfirmed, OrderID: "o-1", CustomerID: "c-1",
		Status: "confirmed", OccurredAt: time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC),
	}
}

func TestHandleDeliversOncePerEvent(t *testing.T) {
	sender, store := &fakeSender{}, newFakeStore()
	svc := notification.NewService(sender, store, nil)
	ctx := context.Background()
	for i, want := range []notification.Outcome{notification.Delivered, notification.Duplicate, notification.Duplicate} {
		got, err := svc.Handle(ctx, confirmed("e-1")) // the event, then two redeliveries
		if err != nil || got != want {
			t.Fatalf("Handle #%d: got %v, %v; want %v", i+1, got, err, want)
		}
	}
	if _, err := svc.Handle(ctx, confirmed("e-2")); err != nil {
		t.Fatal(err)
	}
	if len(sender.sent) != 2 || sender.sent[0].ID != "e-1" || sender.sent[1].ID != "e-2" {
		t.Errorf("sent: got %+v, want e-1 then e-2 once each", sender.sent)
	}
	got, _ := svc.History(ctx, "c-1")
	if len(got) != 2 {
		t.Errorf("history: got %d notifications, want 2", len(got))
	}
}

func TestHandleFailedSendIsRetriedLater(t *testing.T) {
	sender, store := &fakeSender{err: errors.New("nats down")}, newFakeStore()
	svc := notification.NewService(sender, store, nil)
	ctx := context.Background()
	if _, err := svc.Handle(ctx, confirmed("e-1")); err == nil {
		t.Fatal("Handle: got nil while NATS is down, want an error so the event is redelivered")
	}
	if len(store.recorded) != 0 {
		t.Fatal("recorded a notification that was never sent")
	}
	sender.err = nil
	if _, err := svc.Handle(ctx, confirmed("e-1")); err != nil {
		t.Fatal(err)
	}
	if len(sender.sent) != 1 {
		t.Errorf("sent: got %d, want 1 after NATS came back", len(sender.sent))
	}
}

func TestHandleFailedRecordResendsWithTheSameID(t *testing.T) {
	sender, store := &fakeSender{}, newFakeStore()
	store.recordErr = errors.New("state store down")
	svc := notification.NewService(sender, store, nil)
	ctx := context.Background()
	if _, err := svc.Handle(ctx, confirmed("e-1")); err == nil {
		t.Fatal("Handle: got nil, want the store's error")
	}
	store.recordErr = nil
	if _, err := svc.Handle(ctx, confirmed("e-1")); err != nil {
		t.Fatal(err)
	}
	// The one window of at-least-once: both sends carry the same id.
	if len(sender.sent) != 2 || sender.sent[0].ID != sender.sent[1].ID {
		t.Errorf("sent: got %+v, want the same notification id twice", sender.sent)
	}
}

func TestHandleRefusesMalformedEvents(t *testing.T) {
	svc := notification.NewService(&fakeSender{}, newFakeStore(), nil)
	for _, e := range []events.Order{
		{OrderID: "o-1", CustomerID: "c-1"},
		{EventID: "e-1", CustomerID: "c-1"},
		{EventID: "e-1", OrderID: "o-1"},
		{EventID: "e-1", OrderID: "o-1", CustomerID: "c 1"},
	} {
		if _, err := svc.Handle(context.Background(), e); !errors.Is(err, notification.ErrMalformedEvent) {
			t.Errorf("Handle(%+v): got %v, want ErrMalformedEvent", e, err)
		}
	}
}

func TestHistoryRefusesInvalidCustomer(t *testing.T) {
	svc := notification.NewService(&fakeSender{}, newFakeStore(), nil)
	for _, id := range []string{"", "a b", "../x"} {
		if _, err := svc.History(context.Background(), id); !errors.Is(err, notification.ErrInvalidCustomer) {
			t.Errorf("History(%q): got %v, want ErrInvalidCustomer", id, err)
		}
	}
}

// blockingSender holds the first send until released, to let a second
// delivery of the same event arrive meanwhile.
type blockingSender struct {
	fakeSender
	started, release chan struct{}
}

func (b *blockingSender) Send(ctx context.Context, n notification.Notification) error {
	b.started <- struct{}{}
	<-b.release
	return b.fakeSender.Send(ctx, n)
}

func TestHandleConcurrentDeliveriesSendOnce(t *testing.T) {
	sender := &blockingSender{started: make(chan struct{}, 2), release: make(chan struct{})}
	store := newFakeStore()
	svc := notification.NewService(sender, store, nil)
	ctx := context.Background()

	done := make(chan error)
	go func() {
		_, err := svc.Handle(ctx, confirmed("e-1"))
		done <- err
	}()
	<-sender.started // the first delivery is sending
	if _, err := svc.Handle(ctx, confirmed("e-1")); !errors.Is(err, notification.ErrInProgress) {
		t.Errorf("second delivery while the first sends: got %v, want ErrInProgress", err)
	}
	close(sender.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, err := svc.Handle(ctx, confirmed("e-1")); err != nil || got != notification.Duplicate {
		t.Errorf("the second delivery, retried: got %v, %v; want Duplicate", got, err)
	}
	if len(sender.sent) != 1 {
		t.Errorf("sent %d notifications, want 1", len(sender.sent))
	}
}
