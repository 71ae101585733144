package hosts_test

import (
	"fmt"
	"os"
	"testing"

	"gopkg.in/yaml.v3"
)

// readRunFilePorts reads the sidecar ports of each app of the run file,
// which repo.ReadRunFile leaves out (the e2e harness picks free ones).
func readRunFilePorts(t *testing.T, path string) map[string]map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rf struct {
		Apps []map[string]any `yaml:"apps"`
	}
	if err := yaml.Unmarshal(data, &rf); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]string{}
	for _, a := range rf.Apps {
		ports := map[string]string{}
		for _, k := range []string{"daprHTTPPort", "daprGRPCPort", "metricsPort"} {
			ports[k] = fmt.Sprint(a[k])
		}
		out[fmt.Sprint(a["appID"])] = ports
	}
	return out
}
