package main

import (
	"strings"
	"testing"
	"time"
)

func TestRejectedOrderRetention(t *testing.T) {
	env := map[string]string{"INSECURE_NO_TOKENS": "true"}
	cfg, err := loadConfig(func(key string) string { return env[key] })
	if err != nil || cfg.RejectedOrderRetention != DefaultRejectedOrderRetention {
		t.Errorf("unset: got %v, %v; want the default, %v", cfg.RejectedOrderRetention, err, DefaultRejectedOrderRetention)
	}
	env["REJECTED_ORDER_RETENTION"] = "72h"
	if cfg, err := loadConfig(func(key string) string { return env[key] }); err != nil || cfg.RejectedOrderRetention != 72*time.Hour {
		t.Errorf("72h: got %v, %v", cfg.RejectedOrderRetention, err)
	}
	for _, bad := range []string{"a month", "-1h", "0s"} {
		env["REJECTED_ORDER_RETENTION"] = bad
		if _, err := loadConfig(func(key string) string { return env[key] }); err == nil || !strings.Contains(err.Error(), "REJECTED_ORDER_RETENTION") {
			t.Errorf("%q: got %v, want an error naming REJECTED_ORDER_RETENTION", bad, err)
		}
	}
}
