// Package daprstate is the one way daprshop keeps JSON values in a Dapr
// state store with optimistic concurrency. Every read returns the value's
// ETag; every write is first-write, guarded by the ETag its writer read (or,
// for a key that did not exist, by its still not existing); and Update is
// the read-decide-write loop that reads again when a write lost a race.
package daprstate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	sdk "github.com/dapr/go-sdk/client"
)

// Counter counts something that happened; a prometheus.Counter is one.
type Counter interface{ Inc() }

// ErrContention means Update lost the race for its key too many times in a
// row. Each lost race is another writer's success, so the system as a whole
// makes progress; the bound only keeps one caller from spinning forever.
var ErrContention = errors.New("too many concurrent updates")

// maxAttempts bounds Update's loop.
const maxAttempts = 50

// Store is a state store component, reached through the sidecar.
type Store struct {
	Client sdk.Client
	// Name is the component's name.
	Name string
	// ETagRetries (nil: not counted) counts writes that lost an ETag race
	// and read again.
	ETagRetries Counter
}

// Get decodes the value stored under key into v and returns its ETag. A
// key that does not exist leaves v alone and returns found false and an
// empty ETag, which Put reads as "must still not exist".
func (s Store) Get(ctx context.Context, key string, v any) (etag string, found bool, err error) {
	got, err := s.Client.GetState(ctx, s.Name, key, nil)
	if err != nil {
		return "", false, fmt.Errorf("get %s: %w", key, err)
	}
	if len(got.Value) == 0 {
		return "", false, nil
	}
	if err := json.Unmarshal(got.Value, v); err != nil {
		return "", false, fmt.Errorf("decode %s: %w", key, err)
	}
	return got.Etag, true, nil
}

// GetAll reads the values stored under key(id) for every id in one bulk
// call and returns them in the order of ids, leaving out ids whose key
// holds nothing.
func GetAll[T any](ctx context.Context, s Store, ids []string, key func(id string) string) ([]T, error) {
	out := make([]T, 0, len(ids))
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = key(id)
	}
	got, err := s.GetEach(ctx, keys...)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if !got[k].Found() {
			continue
		}
		var v T
		if err := got[k].Decode(k, &v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Entry is what one key held when GetEach read it: its JSON value (empty:
// nothing) and its ETag, for a write guarded by it.
type Entry struct {
	Value []byte
	ETag  string
}

// Found reports whether the key held a value.
func (e Entry) Found() bool { return len(e.Value) > 0 }

// Decode decodes the value of key into v.
func (e Entry) Decode(key string, v any) error {
	if err := json.Unmarshal(e.Value, v); err != nil {
		return fmt.Errorf("decode %s: %w", key, err)
	}
	return nil
}

// GetEach reads keys in one bulk call and returns what each held, by key
// (a key that held nothing maps to an Entry not Found).
func (s Store) GetEach(ctx context.Context, keys ...string) (map[string]Entry, error) {
	got := make(map[string]Entry, len(keys))
	if len(keys) == 0 {
		return got, nil
	}
	items, err := s.Client.GetBulkState(ctx, s.Name, keys, nil, bulkParallelism)
	if err != nil {
		return nil, fmt.Errorf("get %d keys: %w", len(keys), err)
	}
	for _, it := range items {
		if it.Error != "" {
			return nil, fmt.Errorf("get %s: %s", it.Key, it.Error)
		}
		got[it.Key] = Entry{Value: it.Value, ETag: it.Etag}
	}
	return got, nil
}

// bulkParallelism is how many reads the sidecar makes at once for GetEach.
const bulkParallelism = 4

// Put stores v as JSON under key, with first-write concurrency: with an
// ETag only if the stored value still has it, with none only if the key
// does not exist. meta goes to the component (ttlInSeconds, say). A refused
// or failed write returns a *WriteError.
func (s Store) Put(ctx context.Context, key string, v any, etag string, meta map[string]string) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	err = s.Client.SaveStateWithETag(ctx, s.Name, key, data, etag, meta,
		sdk.WithConcurrency(sdk.StateConcurrencyFirstWrite),
		sdk.WithConsistency(sdk.StateConsistencyStrong))
	if err != nil {
		return &WriteError{Key: key, ETag: etag, Err: err}
	}
	return nil
}

// Write is one write of PutAll: Value as JSON under Key, guarded by ETag
// as Put's writes are.
type Write struct {
	Key   string
	Value any
	ETag  string
}

// PutAll makes writes in one state transaction: all of them, or on a store
// whose transactions roll back, none. Each is first-write, guarded as
// Put's are, but a store may keep less inside a transaction: one ignores
// first-write without an ETag there (a create overwrites), and one without
// rollback makes the writes of a refused transaction that were not refused
// themselves (docs/patterns.md, "Two backend profiles"). So a create in a
// transaction may be unguarded, and every write of a transaction that may
// be refused must be one that is harmless made alone, or made again.
func (s Store) PutAll(ctx context.Context, writes ...Write) error {
	ops := make([]*sdk.StateOperation, 0, len(writes))
	keys := make([]string, 0, len(writes))
	for _, w := range writes {
		data, err := json.Marshal(w.Value)
		if err != nil {
			return fmt.Errorf("encode %s: %w", w.Key, err)
		}
		item := &sdk.SetStateItem{
			Key:     w.Key,
			Value:   data,
			Options: &sdk.StateOptions{Concurrency: sdk.StateConcurrencyFirstWrite, Consistency: sdk.StateConsistencyStrong},
		}
		if w.ETag != "" {
			item.Etag = &sdk.ETag{Value: w.ETag}
		}
		ops = append(ops, &sdk.StateOperation{Type: sdk.StateOperationTypeUpsert, Item: item})
		keys = append(keys, w.Key)
	}
	if err := s.Client.ExecuteStateTransaction(ctx, s.Name, nil, ops); err != nil {
		return fmt.Errorf("save %s in one transaction: %w", strings.Join(keys, ", "), err)
	}
	return nil
}

// WriteError is a first-write to Key, guarded by ETag ("": the key must not
// exist), that did not happen. It may have lost a race or failed: Dapr
// reports an ETag mismatch as gRPC Aborted, but a state transaction, or
// creating a key another writer created first, as a plain error. Only a
// fresh read of Key tells which, and Update makes it.
type WriteError struct {
	Key, ETag string
	Err       error
}

func (e *WriteError) Error() string { return fmt.Sprintf("save %s: %v", e.Key, e.Err) }
func (e *WriteError) Unwrap() error { return e.Err }

// Update runs attempt, which reads what it needs, decides, and writes with
// the ETag it read, until one attempt goes through. When an attempt's write
// fails (a *WriteError anywhere in its error), Update reads the key again:
// if its ETag moved on, another writer won the race, and after a short
// pause the next attempt decides again on fresh data; if it did not, the
// write failed, and Update returns its error. Any other error from attempt
// (a decision not to write, a failed read) ends the loop as it is.
func (s Store) Update(ctx context.Context, attempt func() error) error {
	for n := range maxAttempts {
		err := attempt()
		var we *WriteError
		if !errors.As(err, &we) {
			return err
		}
		got, rerr := s.Client.GetState(ctx, s.Name, we.Key, nil)
		if rerr != nil || got.Etag == we.ETag {
			return err
		}
		if s.ETagRetries != nil {
			s.ETagRetries.Inc()
		}
		if err := backoff(ctx, n); err != nil {
			return err
		}
	}
	return ErrContention
}

// ErrUnchanged, returned by Modify's decide, means there is nothing to
// write: Modify writes nothing and returns nil.
var ErrUnchanged = errors.New("unchanged")

// Modify is Update for one key holding a T: it reads the value (the zero T
// and found false when there is none), lets decide say what it becomes, and
// writes that with the ETag it read. When another writer got there first,
// it reads again and decide decides again on fresh data; so decide may run
// more than once, and must not act on the world beyond its return value
// except idempotently. decide's ErrUnchanged writes nothing; any other
// error ends Modify as it is.
func Modify[T any](ctx context.Context, s Store, key string, decide func(v T, found bool) (T, error)) error {
	return s.Update(ctx, func() error {
		var v T
		etag, found, err := s.Get(ctx, key, &v)
		if err != nil {
			return err
		}
		updated, err := decide(v, found)
		if errors.Is(err, ErrUnchanged) {
			return nil
		}
		if err != nil {
			return err
		}
		return s.Put(ctx, key, updated, etag, nil)
	})
}

// backoff sleeps a little, with jitter, so that writers who collided do not
// collide again in lockstep.
func backoff(ctx context.Context, attempt int) error {
	d := time.Duration(1+rand.IntN(1+min(attempt, 10)*2)) * time.Millisecond
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
