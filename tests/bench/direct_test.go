package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/redis/go-redis/v9"

	"github.com/daprshop/daprshop/tests/harness/system"
	"github.com/daprshop/daprshop/tests/suite"
)

// direct is the direct side of the overhead pairs: what the sidecar's
// state store and pub/sub do for one operation, done by the benchmark on
// the same servers with their own client, one operation at a time.
type direct struct {
	// broker names the pub/sub broker, in the publish pair's name.
	broker string
	// get reads a value stored with its version; save writes one with a
	// new version; publish sends event i durably and returns once a
	// consumer group (Redis) or queue consumer (RabbitMQ) received it.
	get, save, publish func(ctx context.Context, i int) error
}

// directOn returns the direct operations on the servers of the profile
// sys runs on.
func directOn(t *testing.T, sys *suite.Shop, value []byte) direct {
	t.Helper()
	switch store := sys.Store.(type) {
	case *system.Redis:
		return directRedis(t, store, sys.PubSubRedis, value)
	case *system.Postgres:
		mq, ok := sys.Broker.(*system.RabbitMQ)
		if !ok {
			t.Fatalf("profile %s: no direct side for broker %T", sys.Profile.Name, sys.Broker)
		}
		return directPostgresRabbitMQ(t, store, mq, value)
	}
	t.Fatalf("profile %s: no direct side for store %T", sys.Profile.Name, sys.Store)
	return direct{}
}

// directRedis reads and writes a hash as state.redis keeps an entry (its
// data and version), and publishes on a stream read by a consumer group.
func directRedis(t *testing.T, state, pubsub *system.Redis, value []byte) direct {
	rdb := state.Client(t)
	if err := rdb.HSet(context.Background(), "bench-direct-get", "data", value, "version", 1).Err(); err != nil {
		t.Fatal(err)
	}
	return direct{
		broker: "Redis Streams",
		get:    func(ctx context.Context, _ int) error { return rdb.HGetAll(ctx, "bench-direct-get").Err() },
		save: func(ctx context.Context, i int) error {
			return rdb.HSet(ctx, "bench-direct-save", "data", value, "version", i).Err()
		},
		publish: directStream(t, pubsub),
	}
}

// directStream returns the direct side of the pub/sub pair on Redis: XADD
// to a stream, and the round trip ends when a consumer group reader gets it.
func directStream(t *testing.T, r *system.Redis) func(context.Context, int) error {
	t.Helper()
	rdb := r.Client(t)
	const stream, group = "bench-direct", "bench"
	if err := rdb.XGroupCreateMkStream(context.Background(), stream, group, "$").Err(); err != nil {
		t.Fatal(err)
	}
	got := make(chan int, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	reader := r.Client(t)
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			streams, err := reader.XReadGroup(ctx, &redis.XReadGroupArgs{Group: group, Consumer: "c", Streams: []string{stream, ">"}, Count: 10, Block: time.Second}).Result()
			if err != nil {
				continue // redis.Nil on a quiet second, or the test ending
			}
			for _, s := range streams {
				for _, m := range s.Messages {
					var seq int
					fmt.Sscan(fmt.Sprint(m.Values["seq"]), &seq)
					reader.XAck(ctx, stream, group, m.ID)
					got <- seq
				}
			}
		}
	}()
	return func(ctx context.Context, i int) error {
		if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: map[string]any{"seq": i}}).Err(); err != nil {
			return err
		}
		return awaitSeq(ctx, got, i)
	}
}

// directPostgresRabbitMQ reads and writes a row as state.postgresql keeps
// an entry (its value and an ETag drawn on every write), and publishes on
// RabbitMQ as pubsub.rabbitmq does (persistent, to a fanout exchange, the
// broker confirming), read by a consumer that acknowledges each message.
func directPostgresRabbitMQ(t *testing.T, pg *system.Postgres, mq *system.RabbitMQ, value []byte) direct {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pg.ConnString)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	_, err = conn.Exec(ctx, `CREATE TABLE bench_direct (key text PRIMARY KEY, value jsonb NOT NULL, etag uuid NOT NULL)`)
	if err == nil {
		_, err = conn.Exec(ctx, `INSERT INTO bench_direct VALUES ('bench-direct-get', $1, gen_random_uuid())`, value)
	}
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	return direct{
		broker: "RabbitMQ",
		get: func(ctx context.Context, _ int) error {
			var v []byte
			return conn.QueryRow(ctx, `SELECT value FROM bench_direct WHERE key = 'bench-direct-get'`).Scan(&v)
		},
		save: func(ctx context.Context, _ int) error {
			_, err := conn.Exec(ctx, `INSERT INTO bench_direct VALUES ('bench-direct-save', $1, gen_random_uuid())
ON CONFLICT (key) DO UPDATE SET value = excluded.value, etag = excluded.etag`, value)
			return err
		},
		publish: directQueue(t, mq),
	}
}

// directQueue returns the direct side of the pub/sub pair on RabbitMQ: a
// confirmed, persistent publish to a fanout exchange, and the round trip
// ends when the consumer of a durable queue bound to it gets it.
func directQueue(t *testing.T, mq *system.RabbitMQ) func(context.Context, int) error {
	t.Helper()
	conn, err := amqp.Dial(mq.URL)
	if err != nil {
		t.Fatalf("rabbitmq: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	const exchange, queue = "bench-direct", "bench-direct"
	var pub, sub *amqp.Channel
	pub, err = conn.Channel()
	if err == nil {
		err = pub.ExchangeDeclare(exchange, amqp.ExchangeFanout, true, false, false, false, nil)
	}
	if err == nil {
		err = pub.Confirm(false)
	}
	if err == nil {
		sub, err = conn.Channel()
	}
	if err == nil {
		_, err = sub.QueueDeclare(queue, true, false, false, false, nil)
	}
	if err == nil {
		err = sub.QueueBind(queue, "", exchange, false, nil)
	}
	var deliveries <-chan amqp.Delivery
	if err == nil {
		deliveries, err = sub.Consume(queue, "", false, false, false, false, nil)
	}
	if err != nil {
		t.Fatalf("rabbitmq: %v", err)
	}
	got := make(chan int, 16)
	go func() {
		for d := range deliveries {
			var seq int
			fmt.Sscan(string(d.Body), &seq)
			d.Ack(false)
			got <- seq
		}
	}()
	return func(ctx context.Context, i int) error {
		confirm, err := pub.PublishWithDeferredConfirmWithContext(ctx, exchange, "", false, false, amqp.Publishing{
			DeliveryMode: amqp.Persistent, Body: fmt.Append(nil, i),
		})
		if err != nil {
			return err
		}
		if ok, err := confirm.WaitContext(ctx); err != nil || !ok {
			return fmt.Errorf("rabbitmq: publish %d not confirmed (%v)", i, err)
		}
		return awaitSeq(ctx, got, i)
	}
}
