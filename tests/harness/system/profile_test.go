package system

import "testing"

// TestKnownShutdown: a test's known shutdown issue excuses order's sidecar
// missing its grace period, and nothing else; the profile's own excuses
// what it matches.
func TestKnownShutdown(t *testing.T) {
	const hung = `daprd-order (pid 1) did not shut down cleanly on interrupt: exit status 1: it logged "Graceful shutdown timeout exceeded, forcing shutdown"`
	const issue = "outbox-retries-forever"
	for _, tc := range []struct {
		name     string
		profile  Profile
		failures []string
		opts     Options
		want     string
	}{
		{"order's sidecar hung, the test names the issue", RedisProfile, []string{hung}, Options{KnownShutdownIssue: issue}, issue},
		{"order's sidecar hung, the test names none", RedisProfile, []string{hung}, Options{}, ""},
		{"another process failed too", RedisProfile, []string{hung, "notification (pid 2) exited 2"}, Options{KnownShutdownIssue: issue}, ""},
		{"nothing failed", RedisProfile, nil, Options{KnownShutdownIssue: issue}, ""},
		{"the profile's own issue", PostgresRabbitMQProfile, []string{hung}, Options{}, PostgresRabbitMQProfile.KnownShutdownIssue},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.profile.KnownShutdown(tc.failures, tc.opts); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
