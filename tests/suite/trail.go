package suite

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// EventTrail says where an event got to, for a finding to name the link
// that broke rather than only the notification that never came: every
// Redis stream holding an entry that mentions eventID (the outbox's internal
// topic, "orders", the dead-letter topic), and for each entry what every
// consumer group did with it (not read yet, pending since when and how
// often delivered, or acknowledged), then whether the notification service
// holds a claim on it or recorded it.
func (s *Shop) EventTrail(t testing.TB, eventID string) string {
	t.Helper()
	ctx := context.Background()
	rdb := s.Redis.Client(t)
	streams, err := keysOfType(ctx, rdb, "stream")
	if err != nil {
		return fmt.Sprintf("%s: cannot list streams: %v", eventID, err)
	}
	type stop struct{ entry, text string }
	var stops []stop
	for _, stream := range streams {
		entries, err := rdb.XRange(ctx, stream, "-", "+").Result()
		if err != nil {
			stops = append(stops, stop{"0-0", fmt.Sprintf("stream %s: %v", stream, err)})
			continue
		}
		for _, e := range entries {
			if strings.Contains(fmt.Sprint(e.Values["data"]), eventID) {
				stops = append(stops, stop{e.ID, fmt.Sprintf("stream %s entry %s (%s)", stream, e.ID, entryFate(ctx, rdb, stream, e.ID))})
			}
		}
	}
	// In the order the entries were added: the event's way through.
	slices.SortFunc(stops, func(a, b stop) int { return compareStreamIDs(a.entry, b.entry) })
	var trail []string
	for _, s := range stops {
		trail = append(trail, s.text)
	}
	if len(trail) == 0 {
		trail = append(trail, "in no stream")
	}
	for _, key := range []string{"notification||claim:" + eventID, "notification||notification:" + eventID} {
		state := "absent"
		if n, err := rdb.Exists(ctx, key).Result(); err != nil {
			state = err.Error()
		} else if n == 1 {
			state = "present"
		}
		trail = append(trail, key+" "+state)
	}
	return eventID + ": " + strings.Join(trail, "; ")
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

// AwaitDrained waits up to timeout for every consumer group of every
// stream to have read everything and acknowledged it (no lag, nothing
// pending), and returns what is left when it gives up.
func (s *Shop) AwaitDrained(t testing.TB, timeout time.Duration) error {
	t.Helper()
	ctx := context.Background()
	rdb := s.Redis.Client(t)
	deadline := time.Now().Add(timeout)
	for {
		var left []string
		streams, err := keysOfType(ctx, rdb, "stream")
		if err != nil {
			return err
		}
		for _, stream := range streams {
			groups, err := rdb.XInfoGroups(ctx, stream).Result()
			if err != nil {
				return err
			}
			for _, g := range groups {
				if g.Lag != 0 || g.Pending != 0 {
					left = append(left, fmt.Sprintf("%s/%s: %d unread, %d pending", stream, g.Name, g.Lag, g.Pending))
				}
			}
		}
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s: %s", timeout, strings.Join(left, "; "))
		}
		time.Sleep(500 * time.Millisecond)
	}
}
