// Package natsbus delivers notifications on NATS, the channel customers'
// clients listen on.
package natsbus

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/daprshop/daprshop/services/notification/internal/notification"
)

// SubjectPrefix is followed by the customer id: notifications.<customerId>.
const SubjectPrefix = "notifications."

// Sender is a notification.Sender on a NATS connection.
type Sender struct {
	conn *nats.Conn
}

// NewSender returns a Sender on conn.
func NewSender(conn *nats.Conn) *Sender { return &Sender{conn: conn} }

// Send publishes n and waits for the server to have it: a plain publish only
// fills a client buffer, and an event must not be acknowledged for a
// notification that never left the process. The Nats-Msg-Id header carries
// the notification id so receivers can drop a repeat.
func (s *Sender) Send(ctx context.Context, n notification.Notification) error {
	data, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("encode notification: %w", err)
	}
	msg := nats.NewMsg(SubjectPrefix + n.CustomerID)
	msg.Header.Set(nats.MsgIdHdr, n.ID)
	msg.Data = data
	if err := s.conn.PublishMsg(msg); err != nil {
		return fmt.Errorf("publish on %s: %w", msg.Subject, err)
	}
	if err := s.conn.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("flush to nats: %w", err)
	}
	return nil
}

// Ready reports whether the connection to NATS is up, for /readyz.
func (s *Sender) Ready(context.Context) error {
	if !s.conn.IsConnected() {
		return fmt.Errorf("nats: %s", s.conn.Status())
	}
	return nil
}
