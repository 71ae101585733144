package ordertest_test

import (
	"testing"

	"github.com/daprshop/daprshop/services/order/internal/order"
	"github.com/daprshop/daprshop/services/order/internal/order/ordertest"
)

// TestRepository runs the Repository contract against the fake, as
// services/order/internal/dapr runs it against the Dapr adapter: tests that
// use the fake then test against what the service runs on.
func TestRepository(t *testing.T) {
	ordertest.TestRepository(t, func(*testing.T) order.Repository { return ordertest.NewRepository() })
}

// TestIdempotencyKeys runs the IdempotencyKeys contract against the fake.
func TestIdempotencyKeys(t *testing.T) {
	ordertest.TestIdempotencyKeys(t, func(*testing.T) order.IdempotencyKeys { return ordertest.NewIdempotencyKeys() })
}
