// Package configtest checks a service's settings the same way in every
// service: that each is read from the variable its documentation names,
// and that a bad value is refused with that name.
package configtest

import (
	"strings"
	"testing"
	"time"

	"github.com/daprshop/daprshop/internal/config"
)

// CheckDuration checks that load, a service's configuration loader
// returning the setting under test, reads the positive duration in
// variable key, has def when key is unset, and refuses a value that is not
// a positive duration with an error naming key. load is given development
// tokens (INSECURE_NO_TOKENS), so that nothing but key can be wrong.
func CheckDuration(t *testing.T, key string, def time.Duration, load func(getenv func(string) string) (time.Duration, error)) {
	t.Helper()
	env := map[string]string{config.EnvInsecureNoTokens: "true"}
	getenv := func(k string) string { return env[k] }
	if got, err := load(getenv); err != nil || got != def {
		t.Errorf("%s unset: got %v, %v; want the default, %v", key, got, err, def)
	}
	env[key] = "36h"
	if got, err := load(getenv); err != nil || got != 36*time.Hour {
		t.Errorf("%s=36h: got %v, %v", key, got, err)
	}
	for _, bad := range []string{"a month", "-1h", "0s"} {
		env[key] = bad
		if _, err := load(getenv); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s=%q: got %v, want an error naming %s", key, bad, err, key)
		}
	}
}
