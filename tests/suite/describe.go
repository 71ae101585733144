package suite

import (
	"debug/buildinfo"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/daprshop/daprshop/tests/harness/repo"
	"github.com/daprshop/daprshop/tests/harness/system"
	"github.com/daprshop/daprshop/tests/report"
)

// Describe says what the suite runs on, for the report: versions are asked
// of the binaries themselves, so a daprd built elsewhere is described as it
// is.
func Describe(e system.Env) report.Environment {
	host, _ := os.Hostname()
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	env := report.Environment{
		DaprdVersion: version(e.Daprd, "--version"),
		DaprdPath:    e.Daprd,
		GoSDKVersion: moduleVersion(filepath.Join(e.BinDir, "order"), "github.com/dapr/go-sdk"),
		GoVersion:    runtime.Version(),
		Components:   components(filepath.Join(e.Root, "components")),
		RedisVersion: version("redis-server", "--version"),
		NATSVersion:  version("nats-server", "--version"),
		Machine: report.Machine{OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(),
			Kernel: strings.TrimSpace(string(kernel)), Hostname: host},
	}
	return env
}

func version(bin string, args ...string) string {
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return strings.TrimSpace(string(out))
}

// moduleVersion is the version of the module at path that the binary bin
// was built with, read from the binary's build information.
func moduleVersion(bin, path string) string {
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	for _, dep := range info.Deps {
		if dep.Path == path {
			return dep.Version
		}
	}
	return "unknown (not in " + bin + ")"
}

// components lists the Component resources in dir; a file that cannot be
// read is left out (the run file's test reports it).
func components(dir string) []report.Component {
	resources, _ := repo.Resources(dir)
	out := []report.Component{}
	for _, res := range resources {
		if res.Kind == "Component" {
			out = append(out, report.Component{Name: res.Metadata.Name, Type: res.Spec.Type, Version: res.Spec.Version})
		}
	}
	return out
}
