package system

import "regexp"

// startedRe is the line each of Dapr's programs logs as it starts:
// "Starting Dapr Operator -- version 1.18.2 -- commit ...", "Starting Dapr
// Runtime -- version ...".
var startedRe = regexp.MustCompile(`Starting Dapr [^"]*? -- version (\S+) -- commit`)

// LoggedDaprVersion is the version a Dapr program's log (a control plane
// service's, a sidecar's) says it started as, or "" when it says none.
func LoggedDaprVersion(logs string) string {
	if m := startedRe.FindStringSubmatch(logs); m != nil {
		return m[1]
	}
	return ""
}
