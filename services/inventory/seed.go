package main

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/daprshop/daprshop/services/inventory/internal/inventory"
)

// seeder stores the starting catalog once the sidecar can reach the state
// store. It retries because the app starts before, or together with, its
// sidecar; Seed itself never overwrites existing stock. The service is not
// ready until the catalog is in place.
type seeder struct {
	done atomic.Bool
}

// Ready is a health.Check.
func (s *seeder) Ready(context.Context) error {
	if !s.done.Load() {
		return errors.New("catalog not seeded yet")
	}
	return nil
}

func (s *seeder) run(ctx context.Context, logger *slog.Logger, svc *inventory.Service, items []inventory.Item) {
	if len(items) == 0 {
		s.done.Store(true)
		return
	}
	for delay := 250 * time.Millisecond; ; delay = min(2*delay, 5*time.Second) {
		attemptCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := svc.Seed(attemptCtx, items)
		cancel()
		if err == nil {
			s.done.Store(true)
			logger.Info("catalog seeded", slog.Int("skus", len(items)))
			return
		}
		logger.Warn("seeding catalog, will retry", slog.Any("error", err), slog.Duration("retry_in", delay))
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
}
