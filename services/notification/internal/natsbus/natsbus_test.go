package natsbus_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/daprshop/daprshop/internal/natstrust"
	"github.com/daprshop/daprshop/services/notification/internal/natsbus"
	"github.com/daprshop/daprshop/services/notification/internal/notification"
	"github.com/daprshop/daprshop/services/notification/internal/notification/notificationtest"
	"github.com/daprshop/daprshop/tests/harness/system"
)

// TestMain runs the tests in a network namespace of their own, where they
// start nats-server.
func TestMain(m *testing.M) { os.Exit(system.Main(m, system.MainOptions{Name: "natsbus"})) }

// waitTimeout bounds the wait for a published message to come back to a
// subscriber on the same machine.
const waitTimeout = 5 * time.Second

func TestSender(t *testing.T) {
	server := system.StartNATS(t, system.LoadEnv(t).LogDir(t), nil)
	notificationtest.TestSender(t, func(t *testing.T) (notification.Sender, notificationtest.Inbox) {
		inbox := subscribe(t, server.URL)
		return natsbus.NewSender(connect(t, server.URL)), inbox.notifications
	})

	t.Run("subject, payload and dedupe header", func(t *testing.T) {
		inbox := subscribe(t, server.URL)
		sender := natsbus.NewSender(connect(t, server.URL))
		n := notification.Notification{
			ID: "e-1", CustomerID: "c-1", OrderID: "o-1", Status: "confirmed",
			Message: "Your order o-1 is confirmed.", CreatedAt: time.Date(2026, 11, 24, 10, 30, 0, 0, time.UTC),
		}
		if err := sender.Send(testContext(t), n); err != nil {
			t.Fatal(err)
		}
		msg := inbox.wait(t, 1)[0]
		if want := "notifications.c-1"; msg.Subject != want {
			t.Errorf("subject: got %q, want %q", msg.Subject, want)
		}
		// Receivers drop a repeat by this header; JetStream does too.
		if got := msg.Header.Get(nats.MsgIdHdr); got != n.ID {
			t.Errorf("%s header: got %q, want %q", nats.MsgIdHdr, got, n.ID)
		}
		// The payload is the public wire format: pin its field names.
		const want = `{"id":"e-1","customerId":"c-1","orderId":"o-1","status":"confirmed",` +
			`"message":"Your order o-1 is confirmed.","createdAt":"2026-11-24T10:30:00Z"}`
		if !bytes.Equal(msg.Data, []byte(want)) {
			t.Errorf("payload:\n got %s\nwant %s", msg.Data, want)
		}
	})

	t.Run("closed connection", func(t *testing.T) {
		nc := connect(t, server.URL)
		sender := natsbus.NewSender(nc)
		if err := sender.Ready(testContext(t)); err != nil {
			t.Fatalf("Ready while connected: got %v, want nil", err)
		}
		nc.Close()
		// An error, so that the event is delivered again later.
		if err := sender.Send(testContext(t), notification.Notification{ID: "e-2", CustomerID: "c-2"}); err == nil {
			t.Error("Send on a closed connection: got nil, want an error")
		}
		if err := sender.Ready(testContext(t)); err == nil {
			t.Error("Ready on a closed connection: got nil, want an error")
		}
	})
}

// connect returns a connection to url, closed when the test ends.
func connect(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("connect to %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// inbox holds what a subscriber to every customer's subject received.
type inbox struct {
	mu   sync.Mutex
	msgs []*nats.Msg
}

// subscribe subscribes to every customer's notifications on the server at
// url, and returns once the server has the subscription, so that nothing
// published afterwards is missed.
func subscribe(t *testing.T, url string) *inbox {
	t.Helper()
	in := &inbox{}
	nc := connect(t, url)
	if _, err := nc.Subscribe(natsbus.SubjectPrefix+">", func(msg *nats.Msg) {
		in.mu.Lock()
		in.msgs = append(in.msgs, msg)
		in.mu.Unlock()
	}); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatalf("flush subscription: %v", err)
	}
	return in
}

// wait returns the messages received once there are at least n, or fails
// t after waitTimeout.
func (in *inbox) wait(t *testing.T, n int) []*nats.Msg {
	t.Helper()
	return in.waitFor(t, n, func(*nats.Msg) bool { return true })
}

// waitFor is wait for the messages that match.
func (in *inbox) waitFor(t *testing.T, n int, match func(*nats.Msg) bool) []*nats.Msg {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		var got []*nats.Msg
		in.mu.Lock()
		for _, msg := range in.msgs {
			if match(msg) {
				got = append(got, msg)
			}
		}
		in.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("received %d messages in %v, want %d", len(got), waitTimeout, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// notifications is an Inbox: the notifications received on the customer's
// subject.
func (in *inbox) notifications(t *testing.T, customerID string, n int) []notification.Notification {
	t.Helper()
	msgs := in.waitFor(t, n, func(msg *nats.Msg) bool { return msg.Subject == natsbus.SubjectPrefix+customerID })
	out := make([]notification.Notification, len(msgs))
	for i, msg := range msgs {
		if err := json.Unmarshal(msg.Data, &out[i]); err != nil {
			t.Fatalf("message on %s: %v: %s", msg.Subject, err, msg.Data)
		}
	}
	return out
}

// testContext bounds a test's calls; Send's flush needs a deadline.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// TestPasses connects with credentials Passes issued to a nats-server that
// authenticates its clients (JWT mode, the account's signing key): the
// customer may subscribe to their own subject, and not to another's, and
// within the limits of a customer's client; a key not exactly a user's
// gets none, and a customer only so many in a row.
func TestPasses(t *testing.T) {
	trust, err := natstrust.New("natsbus-test")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := trust.Write(dir, "notification", natsbus.NotifierPermissions); err != nil {
		t.Fatal(err)
	}
	auth := system.LoadNATSAuth(t, dir)
	server := system.StartNATS(t, system.LoadEnv(t).LogDir(t), auth)
	seed, err := os.ReadFile(auth.SigningKey)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	passes, err := natsbus.NewPasses(seed, auth.Account, time.Hour, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := user.PublicKey()
	for name, key := range map[string]string{
		"an account's key":          auth.Account,
		"a trailing newline":        pub + "\n",
		"a newline inside":          pub[:20] + "\n" + pub[20:],
		"a leading space":           " " + pub,
		"in lower case":             strings.ToLower(pub),
		"the key's seed":            string(seed),
		"a key one character short": pub[:len(pub)-1],
	} {
		if _, _, err := passes.Issue("c-1", key); !errors.Is(err, natsbus.ErrInvalidUserKey) {
			t.Errorf("%s as the user's key: got %v, want ErrInvalidUserKey", name, err)
		}
	}
	token, expires, err := passes.Issue("c-1", pub)
	if err != nil || !expires.Equal(now.Add(time.Hour).Truncate(time.Second)) {
		t.Fatalf("Issue: got %v, %v; want credentials expiring in an hour", expires, err)
	}
	refusals := system.NewNATSRefusals()
	nc, err := nats.Connect(server.URL, nats.UserJWT(func() (string, error) { return token, nil }, user.Sign), refusals.Option())
	if err != nil {
		t.Fatalf("connect with the credentials: %v", err)
	}
	t.Cleanup(nc.Close)
	for _, tc := range []struct {
		subject string
		refusal string // "" for allowed
	}{
		{"notifications.c-1", ""},
		{"notifications.c-2", "permissions violation"},
		{"notifications.>", "permissions violation"},
		{"notifications.c-1", ""}, // the second of MaxSubscriptions
		{"notifications.c-1", "maximum subscriptions exceeded"},
	} {
		refused := refusals.Refusal(t, nc, time.Second, func() error { _, err := nc.SubscribeSync(tc.subject); return err })
		if got := fmt.Sprint(refused); (refused == nil) != (tc.refusal == "") || !strings.Contains(strings.ToLower(got), tc.refusal) {
			t.Errorf("subscribe to %s: got refusal %v, want %q", tc.subject, refused, tc.refusal)
		}
	}
	if got := nc.MaxPayload(); got != natsbus.MaxPayload {
		t.Errorf("the largest message the connection may send: got %d, want %d", got, natsbus.MaxPayload)
	}
	if _, err := nats.Connect(server.URL, nats.NoReconnect()); err == nil {
		t.Error("connect without credentials: accepted")
	}

	// A customer gets IssueBurst in a row (one given above), then one
	// every IssueEvery; another customer is not held back by it.
	issue := func() error { _, _, err := passes.Issue("c-1", pub); return err }
	for i := 1; i < natsbus.IssueBurst; i++ {
		if err := issue(); err != nil {
			t.Fatalf("credentials %d of %d in a row: %v", i+1, natsbus.IssueBurst, err)
		}
	}
	if err := issue(); !errors.Is(err, natsbus.ErrTooManyPasses) {
		t.Errorf("credentials %d in a row: got %v, want ErrTooManyPasses", natsbus.IssueBurst+1, err)
	}
	if _, _, err := passes.Issue("c-2", pub); err != nil {
		t.Errorf("another customer meanwhile: %v", err)
	}
	now = now.Add(natsbus.IssueEvery)
	if err := issue(); err != nil {
		t.Errorf("IssueEvery later: %v", err)
	}
	if err := issue(); !errors.Is(err, natsbus.ErrTooManyPasses) {
		t.Errorf("and one more: got %v, want ErrTooManyPasses", err)
	}
}
