package system

import "testing"

func TestLoggedVersion(t *testing.T) {
	for logs, want := range map[string]string{
		`{"instance":"dapr-operator-6fc59f5b79-5gxt8","level":"info","msg":"Starting Dapr Operator -- version 1.17.5 -- commit ","scope":"dapr.operator"}`: "1.17.5",
		"time=... level=info msg=\"Starting Dapr Sentry certificate authority -- version 1.18.2 -- commit 3a1b\"\nmore":                                    "1.18.2",
		`{"msg":"Starting Dapr Scheduler Service -- version 1.19.0-rc.1 -- commit abc"}`:                                                                   "1.19.0-rc.1",
		`{"app_id":"order","level":"info","msg":"Starting Dapr Runtime -- version 1.18.2 -- commit ","scope":"dapr.runtime"}`:                              "1.18.2",
		`{"msg":"Starting the operator"}`: "",
		"":                                "",
	} {
		if got := LoggedDaprVersion(logs); got != want {
			t.Errorf("LoggedDaprVersion(%q) = %q, want %q", logs, got, want)
		}
	}
}
