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
	profile, err := system.SelectedProfile()
	if err != nil {
		profile = system.RedisProfile // the suite refused to start: nothing ran
	}
	var versions []string
	for _, command := range profile.VersionCommands {
		versions = append(versions, version(command[0], command[1:]...))
	}
	env := report.Environment{
		DaprdVersion: version(e.Daprd, "--version"),
		DaprdPath:    e.Daprd,
		GoSDKVersion: moduleVersion(filepath.Join(e.BinDir, "order"), "github.com/dapr/go-sdk"),
		GoVersion:    runtime.Version(),
		Components:   components(e.Root, profile),
		Backend:      profile.Name + " (" + strings.Join(versions, "; ") + ")",
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

// components lists the Component resources profile runs with: those of
// components/ under root, profile's own in place of those of the same
// name. A file that cannot be read is left out (the run file's test
// reports it).
func components(root string, profile system.Profile) []report.Component {
	byName := map[string]report.Component{}
	var names []string
	for _, dir := range profile.ComponentDirs(root) {
		resources, _ := repo.Resources(dir)
		for _, res := range resources {
			if res.Kind != "Component" {
				continue
			}
			if _, ok := byName[res.Metadata.Name]; !ok {
				names = append(names, res.Metadata.Name)
			}
			byName[res.Metadata.Name] = report.Component{Name: res.Metadata.Name, Type: res.Spec.Type, Version: res.Spec.Version}
		}
	}
	out := []report.Component{}
	for _, name := range names {
		out = append(out, byName[name])
	}
	return out
}
