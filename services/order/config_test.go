package main

import (
	"testing"
	"time"

	"github.com/daprshop/daprshop/internal/config/configtest"
)

func TestRejectedOrderRetention(t *testing.T) {
	configtest.CheckDuration(t, "REJECTED_ORDER_RETENTION", DefaultRejectedOrderRetention, func(getenv func(string) string) (time.Duration, error) {
		cfg, err := loadConfig(getenv)
		return cfg.RejectedOrderRetention, err
	})
}
