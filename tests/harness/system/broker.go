package system

import (
	"cmp"
	"context"
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

// Tap binds a queue of the test's own to the topic's exchange, declared as
// pubsub.rabbitmq declares it (fanout, durable, kept when unused), and
// records every message that reaches it: only what is published after the
// tap.
func (r *RabbitMQ) Tap(t testing.TB, topic string) func() ([][]byte, error) {
	t.Helper()
	conn, err := amqp.Dial(r.URL)
	if err != nil {
		t.Fatalf("rabbitmq: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
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
		t.Fatalf("rabbitmq: tap topic %s: %v", topic, err)
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

// queues lists the broker's queues with rabbitmqctl, which reaches the node
// as the server was started (its port mapper, node name and cookie).
func (r *RabbitMQ) queues(ctx context.Context) ([]queue, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, rabbitMQBin+"/rabbitmqctl", "--quiet", "list_queues", "--no-table-headers", "name", "messages_ready", "messages_unacknowledged")
	cmd.Env = r.ctlEnv
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("rabbitmqctl list_queues: %w: %s", err, strings.TrimSpace(string(out)))
	}
	var queues []queue
	for line := range strings.Lines(string(out)) {
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
