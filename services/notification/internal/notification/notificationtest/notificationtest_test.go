package notificationtest_test

import (
	"testing"

	"github.com/daprshop/daprshop/services/notification/internal/notification"
	"github.com/daprshop/daprshop/services/notification/internal/notification/notificationtest"
)

// fakeLimit bounds the fake dead letters small, so the bound is tested in
// a few Adds.
const fakeLimit = 5

func TestStore(t *testing.T) {
	notificationtest.TestStore(t, func(*testing.T) notification.Store { return notificationtest.NewStore() })
}

func TestDeadLetters(t *testing.T) {
	notificationtest.TestDeadLetters(t, func(*testing.T) notification.DeadLetters {
		return notificationtest.NewDeadLetters(fakeLimit)
	}, fakeLimit)
}

func TestSender(t *testing.T) {
	notificationtest.TestSender(t, func(*testing.T) (notification.Sender, notificationtest.Inbox) {
		s := &notificationtest.Sender{}
		// The fake delivers as it sends: the inbox is what was sent to
		// the customer, all there already.
		return s, func(t *testing.T, customerID string, n int) []notification.Notification {
			t.Helper()
			var got []notification.Notification
			for _, sent := range s.Sent() {
				if sent.CustomerID == customerID {
					got = append(got, sent)
				}
			}
			if len(got) != n {
				t.Fatalf("sent to %s: got %d notifications, want %d", customerID, len(got), n)
			}
			return got
		}
	})
}
