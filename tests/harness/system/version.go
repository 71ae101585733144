package system

import (
	"debug/buildinfo"
	"regexp"
	"runtime/debug"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
)

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

// daprModule is the module whose code every Dapr program is built from.
const daprModule = "github.com/dapr/dapr"

// BuiltDaprVersion is the release ("v1.18.2") of the dapr module a Go
// binary (a sentry, a daprd) was compiled from, read from the build
// information the Go toolchain writes into every binary; "" when that is
// not a release (a local copy of the module, a build inside it). It is
// how a program without --version, sentry, says what it is before it runs:
// a build stamps the same version (buildinfo.version) that it then logs.
func BuiltDaprVersion(path string) (string, error) {
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return "", err
	}
	return daprModuleRelease(info), nil
}

// daprModuleRelease is the release of the dapr module in info, main module
// or dependency, after any replacement; "" when it is not a release.
func daprModuleRelease(info *debug.BuildInfo) string {
	dapr := &info.Main
	if dapr.Path != daprModule {
		dapr = nil
		for _, dep := range info.Deps {
			if dep.Path == daprModule {
				dapr = dep
			}
		}
	}
	if dapr == nil {
		return ""
	}
	if dapr.Replace != nil {
		dapr = dapr.Replace
	}
	if !semver.IsValid(dapr.Version) || module.IsPseudoVersion(dapr.Version) {
		return ""
	}
	return dapr.Version
}
