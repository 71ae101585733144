package repo

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"
)

// RunFile is the part of the Dapr CLI's multi-app run file
// (deploy/selfhosted/dapr.yaml) that says what the system is made of.
// Ports are left out on purpose: the harness picks free ones.
type RunFile struct {
	Common RunApp   `yaml:"common"`
	Apps   []RunApp `yaml:"apps"`
}

// RunApp is one app of the run file, or the defaults under common.
type RunApp struct {
	AppID              string            `yaml:"appID"`
	AppDirPath         string            `yaml:"appDirPath"`
	Command            []string          `yaml:"command"`
	AppPort            int               `yaml:"appPort"`
	AppProtocol        string            `yaml:"appProtocol"`
	ResourcesPaths     []string          `yaml:"resourcesPaths"`
	ConfigFilePath     string            `yaml:"configFilePath"`
	APIListenAddresses string            `yaml:"apiListenAddresses"`
	EnableAppHealth    bool              `yaml:"enableAppHealthCheck"`
	AppMaxConcurrency  int               `yaml:"appMaxConcurrency"`
	AppHealthPath      string            `yaml:"appHealthCheckPath"`
	LogLevel           string            `yaml:"logLevel"`
	Env                map[string]string `yaml:"env"`
}

// ReadRunFile reads the run file at path and resolves every app against the
// common section, the way the CLI does: an app's own setting wins, env maps
// merge, and relative paths are relative to the run file's directory.
func ReadRunFile(path string) ([]RunApp, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rf RunFile
	if err := yaml.Unmarshal(data, &rf); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	if len(rf.Apps) == 0 {
		return nil, fmt.Errorf("%s: no apps", path)
	}
	dir := filepath.Dir(path)
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	apps := make([]RunApp, 0, len(rf.Apps))
	for _, a := range rf.Apps {
		c := rf.Common
		a.AppProtocol = or(a.AppProtocol, c.AppProtocol)
		a.ConfigFilePath = abs(or(a.ConfigFilePath, c.ConfigFilePath))
		a.APIListenAddresses = or(a.APIListenAddresses, c.APIListenAddresses)
		a.EnableAppHealth = a.EnableAppHealth || c.EnableAppHealth
		a.AppHealthPath = or(a.AppHealthPath, c.AppHealthPath)
		a.LogLevel = or(a.LogLevel, c.LogLevel)
		a.AppDirPath = abs(a.AppDirPath)
		if len(a.ResourcesPaths) == 0 {
			a.ResourcesPaths = c.ResourcesPaths
		}
		resources := make([]string, len(a.ResourcesPaths))
		for i, p := range a.ResourcesPaths {
			resources[i] = abs(p)
		}
		a.ResourcesPaths = resources
		env := maps.Clone(c.Env)
		if env == nil {
			env = map[string]string{}
		}
		maps.Copy(env, a.Env)
		a.Env = env
		if a.AppID == "" || len(a.Command) == 0 || a.AppPort == 0 {
			return nil, fmt.Errorf("%s: every app needs appID, command and appPort", path)
		}
		apps = append(apps, a)
	}
	return apps, nil
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
