package notification_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/daprshop/daprshop/internal/events"
	"github.com/daprshop/daprshop/services/notification/internal/notification"
	"github.com/daprshop/daprshop/services/notification/internal/notification/notificationtest"
)

// confirmed returns event eventID, which confirms order "o-"+eventID of
// customer c-1.
func confirmed(eventID string) events.Order {
	return events.Order{
		EventID: eventID, Type: events.TypeOrderConfirmed, OrderID: "o-" + eventID, Version: 1, CustomerID: "c-1",
		Status: "confirmed", OccurredAt: time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC),
	}
}

// cancelled returns the event cancelling the order e confirmed.
func cancelled(e events.Order) events.Order {
	e.EventID, e.Type, e.Version, e.Status = e.OrderID+".cancelled", events.TypeOrderCancelled, 2, "cancelled"
	return e
}

func TestHandleDeliversOncePerEvent(t *testing.T) {
	sender, store := &notificationtest.Sender{}, notificationtest.NewStore()
	svc := notification.NewService(sender, store, nil, nil)
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
	if sent := sender.Sent(); len(sent) != 2 || sent[0].ID != "e-1" || sent[1].ID != "e-2" {
		t.Errorf("sent: got %+v, want e-1 then e-2 once each", sent)
	}
	got, _ := svc.History(ctx, "c-1", "", 0)
	if len(got.Notifications) != 2 {
		t.Errorf("history: got %d notifications, want 2", len(got.Notifications))
	}
}

func TestHandleFailedSendIsRetriedLater(t *testing.T) {
	sender, store := &notificationtest.Sender{Err: errors.New("nats down")}, notificationtest.NewStore()
	svc := notification.NewService(sender, store, nil, nil)
	ctx := context.Background()
	if _, err := svc.Handle(ctx, confirmed("e-1")); err == nil {
		t.Fatal("Handle: got nil while NATS is down, want an error so the event is redelivered")
	}
	if delivered, _ := store.Delivered(ctx, "e-1"); delivered {
		t.Fatal("recorded a notification that was never sent")
	}
	sender.Err = nil
	if _, err := svc.Handle(ctx, confirmed("e-1")); err != nil {
		t.Fatal(err)
	}
	if len(sender.Sent()) != 1 {
		t.Errorf("sent: got %d, want 1 after NATS came back", len(sender.Sent()))
	}
}

func TestHandleFailedRecordResendsWithTheSameID(t *testing.T) {
	sender, store := &notificationtest.Sender{}, notificationtest.NewStore()
	store.ToldErr = errors.New("state store down")
	svc := notification.NewService(sender, store, nil, nil)
	ctx := context.Background()
	if _, err := svc.Handle(ctx, confirmed("e-1")); err == nil {
		t.Fatal("Handle: got nil, want the store's error")
	}
	store.ToldErr = nil
	if _, err := svc.Handle(ctx, confirmed("e-1")); err != nil {
		t.Fatal(err)
	}
	// The one window of at-least-once: both sends carry the same id.
	if sent := sender.Sent(); len(sent) != 2 || sent[0].ID != sent[1].ID {
		t.Errorf("sent: got %+v, want the same notification id twice", sent)
	}
}

func TestHandleRefusesMalformedEvents(t *testing.T) {
	svc := notification.NewService(&notificationtest.Sender{}, notificationtest.NewStore(), nil, nil)
	for name, broken := range map[string]func(e *events.Order){
		"no event id":     func(e *events.Order) { e.EventID = "" },
		"no order id":     func(e *events.Order) { e.OrderID = "" },
		"no customer id":  func(e *events.Order) { e.CustomerID = "" },
		"bad customer id": func(e *events.Order) { e.CustomerID = "c 1" },
		"unknown type":    func(e *events.Order) { e.Type = "daprshop.order.exploded.v1" },
		// An event without a version cannot be placed in its order's life.
		"no version": func(e *events.Order) { e.Version = 0 },
	} {
		e := confirmed("e-1")
		broken(&e)
		if _, err := svc.Handle(context.Background(), e); !errors.Is(err, notification.ErrMalformedEvent) {
			t.Errorf("Handle of an event with %s: got %v, want ErrMalformedEvent", name, err)
		}
	}
}

func TestHistoryRefusesInvalidCustomer(t *testing.T) {
	svc := notification.NewService(&notificationtest.Sender{}, notificationtest.NewStore(), nil, nil)
	for _, id := range []string{"", "a b", "../x"} {
		if _, err := svc.History(context.Background(), id, "", 0); !errors.Is(err, notification.ErrInvalidCustomer) {
			t.Errorf("History(%q): got %v, want ErrInvalidCustomer", id, err)
		}
	}
}

// blockingSender holds the first send until released, to let a second
// delivery of the same event arrive meanwhile.
type blockingSender struct {
	notificationtest.Sender
	started, release chan struct{}
}

func (b *blockingSender) Send(ctx context.Context, n notification.Notification) error {
	b.started <- struct{}{}
	<-b.release
	return b.Sender.Send(ctx, n)
}

func TestHandleConcurrentDeliveriesSendOnce(t *testing.T) {
	sender := &blockingSender{started: make(chan struct{}, 2), release: make(chan struct{})}
	store := notificationtest.NewStore()
	svc := notification.NewService(sender, store, nil, nil)
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
	if len(sender.Sent()) != 1 {
		t.Errorf("sent %d notifications, want 1", len(sender.Sent()))
	}
}

func TestHandleTellsNothingOlderThanWhatWasTold(t *testing.T) {
	sender, store := &notificationtest.Sender{}, notificationtest.NewStore()
	svc := notification.NewService(sender, store, nil, nil)
	ctx := context.Background()
	confirm := confirmed("e-1")
	// The cancel arrives first: the confirmation, later, would tell the
	// customer an order is confirmed after it was cancelled.
	for _, step := range []struct {
		e    events.Order
		want notification.Outcome
	}{{cancelled(confirm), notification.Delivered}, {confirm, notification.Outdated}, {confirm, notification.Outdated}} {
		if got, err := svc.Handle(ctx, step.e); err != nil || got != step.want {
			t.Fatalf("Handle(%s): got %v, %v; want %v", step.e.EventID, got, err, step.want)
		}
	}
	if sent := sender.Sent(); len(sent) != 1 || sent[0].Status != "cancelled" {
		t.Errorf("sent: got %+v, want the cancel alone", sent)
	}
	page, _ := svc.History(ctx, "c-1", "", 0)
	if len(page.Notifications) != 1 || page.Notifications[0].Status != "cancelled" {
		t.Errorf("history: got %+v, want the cancel alone", page.Notifications)
	}
}

func TestHandleTellsOneChangeOfAnOrderAtATime(t *testing.T) {
	sender := &blockingSender{started: make(chan struct{}, 2), release: make(chan struct{})}
	svc := notification.NewService(sender, notificationtest.NewStore(), nil, nil)
	ctx := context.Background()
	confirm := confirmed("e-1")

	done := make(chan error)
	go func() {
		_, err := svc.Handle(ctx, confirm)
		done <- err
	}()
	<-sender.started // the confirmation is being sent
	if _, err := svc.Handle(ctx, cancelled(confirm)); !errors.Is(err, notification.ErrInProgress) {
		t.Errorf("the cancel while the confirmation sends: got %v, want ErrInProgress", err)
	}
	close(sender.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, err := svc.Handle(ctx, cancelled(confirm)); err != nil || got != notification.Delivered {
		t.Errorf("the cancel, retried: got %v, %v; want Delivered", got, err)
	}
	if sent := sender.Sent(); len(sent) != 2 || sent[0].Status != "confirmed" || sent[1].Status != "cancelled" {
		t.Errorf("sent: got %+v, want the confirmation, then the cancel", sent)
	}
}

func TestRedrivePutsTheEventBackThenForgetsIt(t *testing.T) {
	deadLetters, events := notificationtest.NewDeadLetters(0), &notificationtest.Events{}
	svc := notification.NewService(&notificationtest.Sender{}, notificationtest.NewStore(), deadLetters, events)
	ctx := context.Background()
	dl := notification.DeadLetter{ID: "dl-1", Topic: "orders", Data: []byte(`{"eventId":"o-1.confirmed"}`)}
	if err := svc.DeadLetter(ctx, dl); err != nil {
		t.Fatal(err)
	}

	events.Err = errors.New("broker down")
	if err := svc.Redrive(ctx, "dl-1"); err == nil {
		t.Fatal("Redrive with the broker down: got nil, want an error")
	}
	if _, kept, _ := deadLetters.Get(ctx, "dl-1"); !kept {
		t.Fatal("a dead letter whose redrive failed was forgotten")
	}

	events.Err = nil
	if err := svc.Redrive(ctx, "dl-1"); err != nil {
		t.Fatal(err)
	}
	if got := events.Republished(); len(got) != 1 || string(got[0]) != string(dl.Data) {
		t.Errorf("republished: got %q, want the dead letter's data once", got)
	}
	if _, kept, _ := deadLetters.Get(ctx, "dl-1"); kept {
		t.Error("the redriven dead letter is still kept")
	}
	for _, id := range []string{"dl-1", "never", "a||b", ""} {
		if err := svc.Redrive(ctx, id); !errors.Is(err, notification.ErrNoSuchDeadLetter) {
			t.Errorf("Redrive(%q): got %v, want ErrNoSuchDeadLetter", id, err)
		}
	}
}

func TestHistoryPages(t *testing.T) {
	sender, store := &notificationtest.Sender{}, notificationtest.NewStore()
	svc := notification.NewService(sender, store, nil, nil)
	ctx := context.Background()
	for i := range 5 {
		if _, err := svc.Handle(ctx, confirmed(fmt.Sprintf("e-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for cursor, pages := "", 0; ; pages++ {
		page, err := svc.History(ctx, "c-1", cursor, 2)
		if err != nil || pages > 5 {
			t.Fatalf("History(cursor %q): %v after %d pages", cursor, err, pages)
		}
		for _, n := range page.Notifications {
			got = append(got, n.ID)
		}
		if cursor = page.Older; cursor == "" {
			break
		}
	}
	if want := []string{"e-4", "e-3", "e-2", "e-1", "e-0"}; !slices.Equal(got, want) {
		t.Errorf("history by pages of 2: got %v, want %v", got, want)
	}
	for _, bad := range []struct {
		cursor string
		limit  int
	}{{"", -1}, {"", notification.MaxHistoryPage + 1}, {"abc", 10}, {"0", 10}, {"-3", 10}} {
		if _, err := svc.History(ctx, "c-1", bad.cursor, bad.limit); !errors.Is(err, notification.ErrInvalidPage) {
			t.Errorf("History(cursor %q, limit %d): got %v, want ErrInvalidPage", bad.cursor, bad.limit, err)
		}
	}
}
