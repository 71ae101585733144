package system

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/redis/go-redis/v9"

	"github.com/daprshop/daprshop/tests/harness/proc"
)

// Broker is a pub/sub broker read from outside Dapr: whether every
// subscriber has handled everything, and, when an event went missing,
// where it got to.
type Broker interface {
	// Backlog names each subscription with messages not yet handled
	// (unread, or delivered and not acknowledged); none when drained.
	Backlog(ctx context.Context) ([]string, error)
	// Trail says where the messages mentioning id are, in the order
	// they were published, as far as the broker shows without taking
	// them: for a finding to name the link that broke.
	Trail(ctx context.Context, id string) []string
	// Tap starts recording what is published on topic, and returns what
	// it recorded so far when called: each message's CloudEvent, as
	// published. It stops when the test ends.
	Tap(t testing.TB, topic string) func() ([][]byte, error)
	// Fill makes the broker take no more publishes, as a full one does
	// (how it says no is its own), until drain is called.
	Fill(ctx context.Context) (drain func() error, err error)
	// Duplicate delivers every message published on topic a second time,
	// as a redelivery does, until ctx ends, and returns how many.
	Duplicate(ctx context.Context, topic string) (int, error)
	// Topics lists the topics the broker holds (streams, exchanges).
	Topics(ctx context.Context) ([]string, error)
	// Publish puts message (a CloudEvent, as Tap returns it) on topic.
	Publish(ctx context.Context, topic string, message []byte) error
}

// AwaitDrained waits until broker holds nothing unhandled
// (Broker.Backlog), of the subscriptions whose backlog line mentions topic
// ("": of all), until ctx ends or one of procs exits (proc.WaitUntil), and
// says what was left when it gives up.
func AwaitDrained(ctx context.Context, broker Broker, topic string, procs ...*proc.Process) error {
	return proc.WaitUntil(ctx, func(ctx context.Context) error {
		backlog, err := broker.Backlog(ctx)
		if err != nil {
			return err
		}
		held := slices.DeleteFunc(backlog, func(line string) bool { return !strings.Contains(line, topic) })
		if len(held) > 0 {
			return errors.New(strings.Join(held, "; "))
		}
		return nil
	}, procs...)
}

// Topics lists the streams.
func (r *Redis) Topics(ctx context.Context) ([]string, error) {
	c := r.client()
	defer c.Close()
	return keysOfType(ctx, c, "stream")
}

// Publish adds message to topic's stream as pubsub.redis does, in field
// "data".
func (r *Redis) Publish(ctx context.Context, topic string, message []byte) error {
	c := r.client()
	defer c.Close()
	if err := c.XAdd(ctx, &redis.XAddArgs{Stream: topic, Values: map[string]any{"data": message}}).Err(); err != nil {
		return fmt.Errorf("redis XADD %s: %w", topic, err)
	}
	return nil
}

// Topics lists the exchanges but the broker's own (amq.*, the default).
func (r *RabbitMQ) Topics(ctx context.Context) ([]string, error) {
	out, err := r.ctl(ctx, "list_exchanges", "--no-table-headers", "name")
	if err != nil {
		return nil, err
	}
	var topics []string
	for line := range strings.Lines(out) {
		// amq.*: RabbitMQ's own; dlx-*: the dead-letter exchanges
		// pubsub.rabbitmq declares beside each queue, not topics.
		if name := strings.TrimSpace(line); name != "" && !strings.HasPrefix(name, "amq.") && !strings.HasPrefix(name, deadLetterExchangePrefix) {
			topics = append(topics, name)
		}
	}
	return topics, nil
}

// Publish publishes message, persistent, on topic's exchange.
func (r *RabbitMQ) Publish(ctx context.Context, topic string, message []byte) error {
	conn, err := amqp.Dial(r.URL)
	if err != nil {
		return fmt.Errorf("rabbitmq: %w", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err == nil {
		err = ch.PublishWithContext(ctx, topic, "", false, false, amqp.Publishing{
			ContentType: "application/cloudevents+json", DeliveryMode: amqp.Persistent, Body: message,
		})
	}
	if err != nil {
		return fmt.Errorf("rabbitmq: publish on %s: %w", topic, err)
	}
	return nil
}

// Tap reads the topic's stream, which keeps every entry (up to the
// component's maxLenApprox): what was published before the tap too.
func (r *Redis) Tap(t testing.TB, topic string) func() ([][]byte, error) {
	c := r.Client(t)
	return func() ([][]byte, error) {
		entries, err := c.XRange(context.Background(), topic, "-", "+").Result()
		if err != nil {
			return nil, fmt.Errorf("redis XRANGE %s: %w", topic, err)
		}
		out := make([][]byte, 0, len(entries))
		for _, e := range entries {
			data, ok := e.Values["data"].(string)
			if !ok {
				return nil, fmt.Errorf("stream %s entry %s: no data field in %v", topic, e.ID, e.Values)
			}
			out = append(out, []byte(data))
		}
		return out, nil
	}
}

// Tap binds a queue of the test's own to the topic's exchange and records
// every message that reaches it: only what is published after the tap.
func (r *RabbitMQ) Tap(t testing.TB, topic string) func() ([][]byte, error) {
	t.Helper()
	conn, err := amqp.Dial(r.URL)
	if err != nil {
		t.Fatalf("rabbitmq: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	_, deliveries, err := tapQueue(conn, topic)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got [][]byte
	go func() {
		for d := range deliveries {
			mu.Lock()
			got = append(got, d.Body)
			mu.Unlock()
		}
	}()
	return func() ([][]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got), nil
	}
}

// tapQueue declares the topic's exchange as pubsub.rabbitmq does (fanout,
// durable, kept when unused), binds a queue of its own to it (gone with
// conn), and consumes it, acknowledging as it receives.
func tapQueue(conn *amqp.Connection, topic string) (*amqp.Channel, <-chan amqp.Delivery, error) {
	ch, err := conn.Channel()
	if err == nil {
		err = ch.ExchangeDeclare(topic, amqp.ExchangeFanout, true, false, false, false, nil)
	}
	var q amqp.Queue
	if err == nil {
		q, err = ch.QueueDeclare("", false, true, true, false, nil)
	}
	if err == nil {
		err = ch.QueueBind(q.Name, "", topic, false, nil)
	}
	var deliveries <-chan amqp.Delivery
	if err == nil {
		deliveries, err = ch.Consume(q.Name, "", true, true, false, false, nil)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("rabbitmq: tap topic %s: %w", topic, err)
	}
	return ch, deliveries, nil
}

// Fill makes the broker take no more publishes, as a full one does, until
// the returned drain is called: Redis refuses them (maxmemory 1 with
// noeviction: XADD fails; reads and acknowledgements still work).
func (r *Redis) Fill(ctx context.Context) (drain func() error, err error) {
	c := r.client()
	if err := c.ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("redis CONFIG SET maxmemory 1: %w", err)
	}
	return func() error {
		defer c.Close()
		if err := c.ConfigSet(context.Background(), "maxmemory", "0").Err(); err != nil {
			return fmt.Errorf("redis CONFIG SET maxmemory 0: %w", err)
		}
		return nil
	}, nil
}

// Fill raises RabbitMQ's memory alarm (a high watermark of one byte): the
// broker blocks every publishing connection, as it does when memory runs
// out, while consumers go on. drain sets the watermark back to the default.
func (r *RabbitMQ) Fill(ctx context.Context) (drain func() error, err error) {
	if _, err := r.ctl(ctx, "set_vm_memory_high_watermark", "absolute", "1"); err != nil {
		return nil, err
	}
	return func() error {
		_, err := r.ctl(context.Background(), "set_vm_memory_high_watermark", "0.4")
		return err
	}, nil
}

// Duplicate adds every entry that arrives on topic's stream a second time,
// until ctx ends, and returns how many it copied. It never copies its own
// copies.
func (r *Redis) Duplicate(ctx context.Context, topic string) (int, error) {
	c := r.client()
	defer c.Close()
	ours := map[string]bool{} // ids of the copies, not to be copied again
	last := "$"
	copied := 0
	for {
		res, err := c.XRead(ctx, &redis.XReadArgs{Streams: []string{topic, last}, Block: 200 * time.Millisecond}).Result()
		switch {
		case ctx.Err() != nil:
			return copied, nil
		case errors.Is(err, redis.Nil):
			continue
		case err != nil:
			return copied, err
		}
		for _, msg := range res[0].Messages {
			last = msg.ID
			if ours[msg.ID] {
				continue
			}
			id, err := c.XAdd(ctx, &redis.XAddArgs{Stream: topic, Values: msg.Values}).Result()
			if err != nil {
				if ctx.Err() != nil {
					return copied, nil
				}
				return copied, err
			}
			ours[id] = true
			copied++
		}
	}
}

// copyHeader marks the copies Duplicate publishes, so that it does not copy
// them again.
const copyHeader = "daprshop-copy"

// Duplicate publishes every message that reaches topic's exchange a second
// time, with its properties, until ctx ends, and returns how many it
// copied: each subscriber's queue gets it twice. It reads them through a
// queue of its own bound to the exchange, and never copies its own copies.
func (r *RabbitMQ) Duplicate(ctx context.Context, topic string) (int, error) {
	conn, err := amqp.Dial(r.URL)
	if err != nil {
		return 0, fmt.Errorf("rabbitmq: %w", err)
	}
	defer conn.Close()
	ch, deliveries, err := tapQueue(conn, topic)
	if err != nil {
		return 0, err
	}
	copied := 0
	for {
		select {
		case <-ctx.Done():
			return copied, nil
		case d, ok := <-deliveries:
			if !ok {
				return copied, fmt.Errorf("rabbitmq: the tap on %s closed", topic)
			}
			if _, mine := d.Headers[copyHeader]; mine {
				continue
			}
			headers := amqp.Table{copyHeader: true}
			for k, v := range d.Headers {
				headers[k] = v
			}
			err := ch.PublishWithContext(ctx, topic, d.RoutingKey, false, false, amqp.Publishing{
				Headers: headers, ContentType: d.ContentType, DeliveryMode: d.DeliveryMode,
				MessageId: d.MessageId, Timestamp: d.Timestamp, Body: d.Body,
			})
			if err != nil {
				if ctx.Err() != nil {
					return copied, nil
				}
				return copied, fmt.Errorf("rabbitmq: publish a copy on %s: %w", topic, err)
			}
			copied++
		}
	}
}

// Backlog names every consumer group of every stream that has entries
// unread (lag) or pending.
func (r *Redis) Backlog(ctx context.Context) ([]string, error) {
	c := r.client()
	defer c.Close()
	streams, err := keysOfType(ctx, c, "stream")
	if err != nil {
		return nil, err
	}
	var left []string
	for _, stream := range streams {
		groups, err := c.XInfoGroups(ctx, stream).Result()
		if err != nil {
			return nil, err
		}
		for _, g := range groups {
			if g.Lag != 0 || g.Pending != 0 {
				left = append(left, fmt.Sprintf("%s/%s: %d unread, %d pending", stream, g.Name, g.Lag, g.Pending))
			}
		}
	}
	return left, nil
}

// Trail lists every stream entry that mentions id (the outbox's internal
// topic, "orders", the dead-letter topic), and what each consumer group
// did with it (not read yet, pending since when and how often delivered,
// or acknowledged).
func (r *Redis) Trail(ctx context.Context, id string) []string {
	c := r.client()
	defer c.Close()
	streams, err := keysOfType(ctx, c, "stream")
	if err != nil {
		return []string{"cannot list streams: " + err.Error()}
	}
	type stop struct{ entry, text string }
	var stops []stop
	for _, stream := range streams {
		entries, err := c.XRange(ctx, stream, "-", "+").Result()
		if err != nil {
			stops = append(stops, stop{"0-0", fmt.Sprintf("stream %s: %v", stream, err)})
			continue
		}
		for _, e := range entries {
			if strings.Contains(fmt.Sprint(e.Values["data"]), id) {
				stops = append(stops, stop{e.ID, fmt.Sprintf("stream %s entry %s (%s)", stream, e.ID, entryFate(ctx, c, stream, e.ID))})
			}
		}
	}
	slices.SortFunc(stops, func(a, b stop) int { return compareStreamIDs(a.entry, b.entry) })
	trail := make([]string, 0, len(stops))
	for _, s := range stops {
		trail = append(trail, s.text)
	}
	if len(trail) == 0 {
		trail = append(trail, "in no stream")
	}
	return trail
}

// entryFate says, for each consumer group of stream, what it did with
// entry id.
func entryFate(ctx context.Context, rdb *redis.Client, stream, id string) string {
	groups, err := rdb.XInfoGroups(ctx, stream).Result()
	if err != nil {
		return err.Error()
	}
	var fates []string
	for _, g := range groups {
		fate := "acknowledged"
		pending, err := rdb.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: stream, Group: g.Name, Start: id, End: id, Count: 1}).Result()
		switch {
		case err != nil:
			fate = err.Error()
		case len(pending) == 1:
			p := pending[0]
			fate = fmt.Sprintf("pending with %s for %s after %d deliveries", p.Consumer, p.Idle.Round(time.Second), p.RetryCount)
		case compareStreamIDs(g.LastDeliveredID, id) < 0:
			fate = "not read yet"
		}
		fates = append(fates, "group "+g.Name+": "+fate)
	}
	if len(fates) == 0 {
		return "no consumer group"
	}
	return strings.Join(fates, ", ")
}

// keysOfType lists the keys of Redis type typ.
func keysOfType(ctx context.Context, rdb *redis.Client, typ string) ([]string, error) {
	var keys []string
	iter := rdb.ScanType(ctx, 0, "*", 1000, typ).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	return keys, iter.Err()
}

// compareStreamIDs orders two stream entry ids ("<ms>-<seq>"); Redis made
// both, so they parse.
func compareStreamIDs(a, b string) int {
	var aMS, aSeq, bMS, bSeq uint64
	fmt.Sscanf(a, "%d-%d", &aMS, &aSeq)
	fmt.Sscanf(b, "%d-%d", &bMS, &bSeq)
	return cmp.Or(cmp.Compare(aMS, bMS), cmp.Compare(aSeq, bSeq))
}

// Backlog names every queue holding messages not yet delivered (ready) or
// delivered and not acknowledged, as rabbitmqctl lists them.
func (r *RabbitMQ) Backlog(ctx context.Context) ([]string, error) {
	queues, err := r.queues(ctx)
	if err != nil {
		return nil, err
	}
	var left []string
	for _, q := range queues {
		if q.ready != 0 || q.unacknowledged != 0 {
			left = append(left, q.String())
		}
	}
	return left, nil
}

// Trail lists the queues' counts: a message cannot be looked at in a
// queue without being taken from it.
func (r *RabbitMQ) Trail(ctx context.Context, id string) []string {
	queues, err := r.queues(ctx)
	if err != nil {
		return []string{"cannot list queues: " + err.Error()}
	}
	trail := []string{"RabbitMQ shows no message without taking it; its queues:"}
	for _, q := range queues {
		trail = append(trail, q.String())
	}
	return trail
}

// queue is what rabbitmqctl says of a queue.
type queue struct {
	name                  string
	ready, unacknowledged int
}

func (q queue) String() string {
	return fmt.Sprintf("queue %s: %d ready, %d unacknowledged", q.name, q.ready, q.unacknowledged)
}

// DeadLetterQueues is a broker that keeps what the subscriber gave up on
// (RabbitMQ; pubsub.redis has no such place).
type DeadLetterQueues interface {
	// DeadLettered counts the messages kept for an operator from app's
	// subscription to topic, and fails when the broker keeps none of
	// them: its queue has no dead-letter queue.
	DeadLettered(ctx context.Context, app, topic string) (int, error)
}

// The names pubsub.rabbitmq gives, with enableDeadLetter, the exchange a
// subscription's queue dead-letters to and the queue bound to it, each
// followed by the queue's own name (app-topic).
const (
	deadLetterExchangePrefix = "dlx-"
	deadLetterQueuePrefix    = "dlq-"
)

// DeadLettered counts the messages on app's dead-letter queue for topic.
func (r *RabbitMQ) DeadLettered(ctx context.Context, app, topic string) (int, error) {
	queues, err := r.queues(ctx)
	if err != nil {
		return 0, err
	}
	name := deadLetterQueuePrefix + app + "-" + topic
	for _, q := range queues {
		if q.name == name {
			return q.ready + q.unacknowledged, nil
		}
	}
	return 0, fmt.Errorf("no queue %s: what %s's sidecar gives up on from %s is dropped; "+
		"the pubsub component must set enableDeadLetter", name, app, topic)
}

// queues lists the broker's queues.
func (r *RabbitMQ) queues(ctx context.Context) ([]queue, error) {
	out, err := r.ctl(ctx, "list_queues", "--no-table-headers", "name", "messages_ready", "messages_unacknowledged")
	if err != nil {
		return nil, err
	}
	var queues []queue
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		ready, err1 := strconv.Atoi(f[1])
		unacked, err2 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("rabbitmqctl list_queues: cannot read %q", line)
		}
		queues = append(queues, queue{name: f[0], ready: ready, unacknowledged: unacked})
	}
	return queues, nil
}

// ctl runs rabbitmqctl, which reaches the node as the server was started
// (its port mapper, node name and cookie), and returns what it printed. A
// call takes about a second (it boots an Erlang VM) and is let finish when
// ctx ends meanwhile: its answer, not its killing, is what a caller that
// polls until a deadline reports last.
func (r *RabbitMQ) ctl(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, rabbitMQBin+"/rabbitmqctl", append([]string{"--quiet"}, args...)...)
	cmd.Env = r.ctlEnv
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("rabbitmqctl %s: %w: %s", args[0], err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// DropSpentOutboxEvents acknowledges each entry of an outbox stream (the
// outbox's internal topic, "<namespace><app><topic>outbox") that has been
// pending for longer than idle and whose transaction record is gone from
// store (key recordPrefix + the event's CloudEvent id): the forwarder
// deletes a record once it forwarded its event, and a transaction that
// failed never wrote one, so such an event has nothing left to forward.
// Dapr's forwarder, given one again, looks for its record forever and
// spins (findings.OutboxRetriesForever); acknowledging it is the remedy
// deploy/k8s/README.md gives operators. It returns what it acknowledged,
// "stream/group entry" each.
func (r *Redis) DropSpentOutboxEvents(ctx context.Context, store *Redis, recordPrefix string, idle time.Duration) ([]string, error) {
	c, records := r.client(), store.client()
	defer c.Close()
	defer records.Close()
	streams, err := keysOfType(ctx, c, "stream")
	if err != nil {
		return nil, err
	}
	var dropped []string
	for _, stream := range slices.DeleteFunc(streams, func(s string) bool { return !strings.HasSuffix(s, "outbox") }) {
		groups, err := c.XInfoGroups(ctx, stream).Result()
		if err != nil {
			return dropped, err
		}
		for _, g := range groups {
			pending, err := c.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: stream, Group: g.Name, Idle: idle, Start: "-", End: "+", Count: 1000}).Result()
			if err != nil {
				return dropped, err
			}
			for _, p := range pending {
				entries, err := c.XRange(ctx, stream, p.ID, p.ID).Result()
				if err != nil {
					return dropped, err
				}
				if len(entries) == 1 {
					var event struct{ ID string }
					if err := json.Unmarshal([]byte(fmt.Sprint(entries[0].Values["data"])), &event); err != nil || event.ID == "" {
						continue // not an outbox event: leave it
					}
					n, err := records.Exists(ctx, recordPrefix+event.ID).Result()
					if err != nil {
						return dropped, err
					}
					if n > 0 {
						continue // its record is there: it may still be forwarded
					}
				}
				if err := c.XAck(ctx, stream, g.Name, p.ID).Err(); err != nil {
					return dropped, err
				}
				dropped = append(dropped, stream+"/"+g.Name+" "+p.ID)
			}
		}
	}
	return dropped, nil
}
