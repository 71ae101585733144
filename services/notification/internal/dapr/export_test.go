package dapr

import (
	"time"

	"github.com/daprshop/daprshop/internal/daprstate"
)

// ClaimTTL is exported for dapr_test, which checks the store against it.
const ClaimTTL = claimTTL

// NewStoreAt is NewStore telling the time by now.
func NewStoreAt(store daprstate.Store, now func() time.Time) *Store {
	return &Store{store: store, now: now}
}
