package daprstate_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"

	sdk "github.com/dapr/go-sdk/client"

	"github.com/daprshop/daprshop/internal/daprstate"
)

// memory is a state store with first-write semantics behind the methods of
// sdk.Client that daprstate calls; any other method panics.
type memory struct {
	sdk.Client
	values   map[string]int
	versions map[string]int
	// racers is how many saves another writer beats, by incrementing the
	// key just before the save lands.
	racers int
	// down makes every save fail as a store that is down would.
	down  bool
	saves int
}

func newMemory() *memory {
	return &memory{values: map[string]int{}, versions: map[string]int{}}
}

func (m *memory) GetState(_ context.Context, _, key string, _ map[string]string) (*sdk.StateItem, error) {
	if _, ok := m.values[key]; !ok {
		return &sdk.StateItem{Key: key}, nil
	}
	return &sdk.StateItem{Key: key, Value: []byte(strconv.Itoa(m.values[key])), Etag: strconv.Itoa(m.versions[key])}, nil
}

func (m *memory) SaveStateWithETag(_ context.Context, _, key string, data []byte, etag string, _ map[string]string, _ ...sdk.StateOption) error {
	m.saves++
	if m.down {
		return errors.New("connection refused")
	}
	if m.racers > 0 {
		m.racers--
		m.values[key]++
		m.versions[key]++
	}
	_, exists := m.values[key]
	if (etag == "" && exists) || (etag != "" && etag != strconv.Itoa(m.versions[key])) {
		return errors.New("possible etag mismatch") // state.redis's plain error
	}
	n, err := strconv.Atoi(string(data))
	if err != nil {
		return err
	}
	m.values[key] = n
	m.versions[key]++
	return nil
}

type counter struct{ n int }

func (c *counter) Inc() { c.n++ }

// increment is a read-decide-write of the number under key.
func increment(ctx context.Context, s daprstate.Store, key string) error {
	return daprstate.Modify(ctx, s, key, func(n int, _ bool) (int, error) { return n + 1, nil })
}

func TestModifyWritesNothingWhenUnchanged(t *testing.T) {
	mem := newMemory()
	s := daprstate.Store{Client: mem, Name: "statestore"}
	mem.values["n"], mem.versions["n"] = 7, 1
	var seen []int
	err := daprstate.Modify(context.Background(), s, "n", func(n int, found bool) (int, error) {
		seen = append(seen, n)
		return 0, daprstate.ErrUnchanged
	})
	if err != nil || mem.saves != 0 || !slices.Equal(seen, []int{7}) {
		t.Errorf("got %v, %d saves, decide saw %v; want nil, 0 saves, [7]", err, mem.saves, seen)
	}
}

func TestUpdateRetriesALostRaceOnFreshData(t *testing.T) {
	mem, retries := newMemory(), &counter{}
	s := daprstate.Store{Client: mem, Name: "statestore", ETagRetries: retries}
	mem.values["n"], mem.versions["n"] = 1, 1
	mem.racers = 2

	if err := increment(context.Background(), s, "n"); err != nil {
		t.Fatal(err)
	}
	if mem.values["n"] != 4 {
		t.Errorf("n = %d, want 4: 1, two other writers, and this update once on top", mem.values["n"])
	}
	if retries.n != 2 {
		t.Errorf("retries counted %d, want 2", retries.n)
	}
}

func TestUpdateCreatesAKeyOnceWhenAnotherWriterCreatesItFirst(t *testing.T) {
	mem := newMemory()
	s := daprstate.Store{Client: mem, Name: "statestore"}
	mem.racers = 1 // creates "n" (as 1) just before this writer's create

	if err := increment(context.Background(), s, "n"); err != nil {
		t.Fatal(err)
	}
	if mem.values["n"] != 2 {
		t.Errorf("n = %d, want 2: the other writer's create, then this update on top", mem.values["n"])
	}
}

func TestUpdateReturnsAFailedWriteWithoutRetrying(t *testing.T) {
	mem, retries := newMemory(), &counter{}
	s := daprstate.Store{Client: mem, Name: "statestore", ETagRetries: retries}
	mem.values["n"], mem.versions["n"] = 1, 1
	mem.down = true

	err := increment(context.Background(), s, "n")
	var we *daprstate.WriteError
	if !errors.As(err, &we) || we.Key != "n" {
		t.Fatalf("got %v, want the *WriteError for n", err)
	}
	if mem.saves != 1 || retries.n != 0 {
		t.Errorf("saves %d, retries %d: want 1 and 0 (the ETag did not move, so no race to retry)", mem.saves, retries.n)
	}
}

func TestUpdateEndsOnAnErrorThatIsNotAWrite(t *testing.T) {
	s := daprstate.Store{Client: newMemory(), Name: "statestore"}
	refused := errors.New("out of stock")
	calls := 0
	err := s.Update(context.Background(), func() error { calls++; return refused })
	if !errors.Is(err, refused) || calls != 1 {
		t.Errorf("got %v after %d calls, want the attempt's own error after 1", err, calls)
	}
}

func TestUpdateGivesUpUnderEndlessContention(t *testing.T) {
	mem := newMemory()
	s := daprstate.Store{Client: mem, Name: "statestore"}
	mem.values["n"], mem.versions["n"] = 1, 1
	mem.racers = 1 << 30

	if err := increment(context.Background(), s, "n"); !errors.Is(err, daprstate.ErrContention) {
		t.Errorf("got %v, want ErrContention", err)
	}
}
