package system

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// Store is a state store read from outside Dapr, past the apps and their
// sidecars: how the invariants see what the sidecars stored, whichever
// profile runs.
type Store interface {
	// State returns the value app appID stored under key; ok is false
	// when there is none (or it expired).
	State(ctx context.Context, appID, key string) (value []byte, ok bool, err error)
	// Records returns every live record the store holds, by the key
	// Dapr stored it under ("<app id>||<key>").
	Records(ctx context.Context) (map[string]Record, error)
	// Size says how much the store takes, and its largest value.
	Size(ctx context.Context) (StoreSize, error)
}

// StoreSize is how much a store takes: Total all of it, Data what its
// records take (not the buffers of its clients, which come and go, nor
// the room kept for more), and the largest value stored, with its key.
type StoreSize struct {
	Total, Data  int64
	LargestKey   string
	LargestValue int
}

// Record is one stored record: Serialized is its value with what the store
// keeps beside it (its ETag, say), so that a rewrite of the same value is
// a change; Expires is when it expires (zero: never).
type Record struct {
	Serialized string
	Expires    time.Time
}

// TTL returns how long app appID's key has left to live in store (0:
// for ever), or an error when store holds no such key.
func TTL(ctx context.Context, store Store, appID, key string) (time.Duration, error) {
	records, err := store.Records(ctx)
	if err != nil {
		return 0, err
	}
	rec, ok := records[stateKey(appID, key)]
	switch {
	case !ok:
		return 0, fmt.Errorf("no record %s", stateKey(appID, key))
	case rec.Expires.IsZero():
		return 0, nil
	}
	return time.Until(rec.Expires), nil
}

// stateKey is the key Dapr's state stores keep app appID's key under.
func stateKey(appID, key string) string { return appID + "||" + key }

// State reads state.redis's record of key: a hash whose field "data" holds
// the value.
func (r *Redis) State(ctx context.Context, appID, key string) ([]byte, bool, error) {
	c := r.client()
	defer c.Close()
	v, err := c.HGet(ctx, stateKey(appID, key), "data").Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("redis HGET %s data: %w", stateKey(appID, key), err)
	}
	return v, true, nil
}

// Records returns every key of the Redis, streams included, serialized by
// DUMP, with its expiry (PTTL): an outbox event's stream is as much what
// the sidecars stored as the state is.
func (r *Redis) Records(ctx context.Context) (map[string]Record, error) {
	c := r.client()
	defer c.Close()
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		return nil, fmt.Errorf("redis KEYS: %w", err)
	}
	now := time.Now()
	records := make(map[string]Record, len(keys))
	for _, k := range keys {
		v, err := c.Dump(ctx, k).Result()
		if errors.Is(err, redis.Nil) {
			continue // expired since KEYS listed it
		}
		if err != nil {
			return nil, fmt.Errorf("redis DUMP %s: %w", k, err)
		}
		rec := Record{Serialized: v}
		if ttl, err := c.PTTL(ctx, k).Result(); err == nil && ttl > 0 {
			rec.Expires = now.Add(ttl)
		}
		records[k] = rec
	}
	return records, nil
}

// Size reads Redis's own account of its memory (INFO memory: all it uses,
// and its dataset), and scans every state record (a hash whose field
// "data" holds the value) for the largest value.
func (r *Redis) Size(ctx context.Context) (StoreSize, error) {
	c := r.client()
	defer c.Close()
	mem, err := c.InfoMap(ctx, "memory").Result()
	if err != nil {
		return StoreSize{}, fmt.Errorf("redis INFO memory: %w", err)
	}
	var size StoreSize
	size.Total, _ = strconv.ParseInt(mem["Memory"]["used_memory"], 10, 64)
	size.Data, _ = strconv.ParseInt(mem["Memory"]["used_memory_dataset"], 10, 64)
	var keys []string
	flush := func() error {
		pipe := c.Pipeline()
		lengths := make([]*redis.IntCmd, len(keys))
		for i, k := range keys {
			lengths[i] = pipe.HStrLen(ctx, k, "data")
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("redis HSTRLEN: %w", err)
		}
		for i, n := range lengths {
			if int(n.Val()) > size.LargestValue {
				size.LargestKey, size.LargestValue = keys[i], int(n.Val())
			}
		}
		keys = keys[:0]
		return nil
	}
	iter := c.ScanType(ctx, 0, "*", 1000, "hash").Iterator()
	for iter.Next(ctx) {
		if keys = append(keys, iter.Val()); len(keys) == 1000 {
			if err := flush(); err != nil {
				return StoreSize{}, err
			}
		}
	}
	if err := iter.Err(); err != nil {
		return StoreSize{}, fmt.Errorf("redis SCAN: %w", err)
	}
	return size, flush()
}

// stateTables is every table state.postgresql v2 keeps state in: one per
// component, named for its tablePrefix ("statestore_state", ...).
const stateTables = `SELECT table_name FROM information_schema.tables
WHERE table_schema = 'public' AND table_name LIKE '%\_state'`

// live leaves out what state.postgresql no longer serves: an expired
// record stays in its table until the store's next cleanup.
const live = `(expires_at IS NULL OR expires_at >= now())`

// State reads key from every state table (an app's keys are in one).
func (p *Postgres) State(ctx context.Context, appID, key string) ([]byte, bool, error) {
	var value []byte
	found := false
	err := p.eachStateTable(ctx, func(conn *pgx.Conn, table string) error {
		err := conn.QueryRow(ctx, `SELECT value FROM `+table+` WHERE key = $1 AND `+live, stateKey(appID, key)).Scan(&value)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		found = err == nil
		return err
	})
	return value, found, err
}

// Records returns every live record of every state table, its value
// serialized with its ETag (state.postgresql v2 draws a new one on every
// write).
func (p *Postgres) Records(ctx context.Context) (map[string]Record, error) {
	records := map[string]Record{}
	err := p.eachStateTable(ctx, func(conn *pgx.Conn, table string) error {
		rows, err := conn.Query(ctx, `SELECT key, value, etag::text, expires_at FROM `+table+` WHERE `+live)
		if err != nil {
			return err
		}
		var key, etag string
		var value []byte
		var expires *time.Time
		_, err = pgx.ForEachRow(rows, []any{&key, &value, &etag, &expires}, func() error {
			rec := Record{Serialized: string(value) + " etag " + etag}
			if expires != nil {
				rec.Expires = *expires
			}
			records[key] = rec // an app's keys are in one table: its store's
			return nil
		})
		return err
	})
	return records, err
}

// Size reads the database's size (all of it), the state tables' with
// their indexes and TOAST (the data), and the largest live value.
func (p *Postgres) Size(ctx context.Context) (StoreSize, error) {
	var size StoreSize
	err := p.eachStateTable(ctx, func(conn *pgx.Conn, table string) error {
		if size.Total == 0 {
			if err := conn.QueryRow(ctx, `SELECT pg_database_size(current_database())`).Scan(&size.Total); err != nil {
				return err
			}
		}
		var data int64
		if err := conn.QueryRow(ctx, `SELECT pg_total_relation_size($1::regclass)`, table).Scan(&data); err != nil {
			return err
		}
		size.Data += data
		var key string
		var largest int
		err := conn.QueryRow(ctx, `SELECT key, octet_length(value) FROM `+table+` WHERE `+live+` ORDER BY 2 DESC LIMIT 1`).Scan(&key, &largest)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err == nil && largest > size.LargestValue {
			size.LargestKey, size.LargestValue = key, largest
		}
		return err
	})
	return size, err
}

// eachStateTable calls f with each state table's name, on one connection.
func (p *Postgres) eachStateTable(ctx context.Context, f func(conn *pgx.Conn, table string) error) error {
	conn, err := pgx.Connect(ctx, p.ConnString)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, stateTables)
	if err != nil {
		return fmt.Errorf("postgres: list the state tables: %w", err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("postgres: list the state tables: %w", err)
	}
	for _, table := range tables {
		if err := f(conn, pgx.Identifier{table}.Sanitize()); err != nil {
			return fmt.Errorf("postgres: %s: %w", table, err)
		}
	}
	return nil
}
