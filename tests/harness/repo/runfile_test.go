package repo

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestRunFileMatchesTheRepository checks that the run file, which both
// `make run` and the e2e harness start the system from, points at what
// exists: a service per app id, resources and a configuration; and that
// every Dapr resource is scoped to apps the run file knows.
func TestRunFileMatchesTheRepository(t *testing.T) {
	root, err := Find()
	if err != nil {
		t.Fatal(err)
	}
	apps, err := ReadRunFile(filepath.Join(root, "deploy", "selfhosted", "dapr.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	ports := map[int]string{}
	for _, a := range apps {
		ids = append(ids, a.AppID)
		if got := filepath.Base(a.Command[0]); got != a.AppID {
			t.Errorf("%s: command %q, want the binary named after the app id", a.AppID, a.Command[0])
		}
		if _, err := os.Stat(filepath.Join(root, "services", a.AppID, "main.go")); err != nil {
			t.Errorf("%s: no service at services/%s: %v", a.AppID, a.AppID, err)
		}
		if other, dup := ports[a.AppPort]; dup {
			t.Errorf("%s and %s share app port %d", a.AppID, other, a.AppPort)
		}
		ports[a.AppPort] = a.AppID
		if _, err := os.Stat(a.ConfigFilePath); err != nil {
			t.Errorf("%s: configuration: %v", a.AppID, err)
		}
		if len(a.ResourcesPaths) == 0 {
			t.Errorf("%s: no resources path", a.AppID)
		}
		for _, p := range a.ResourcesPaths {
			if _, err := os.Stat(p); err != nil {
				t.Errorf("%s: resources: %v", a.AppID, err)
			}
		}
	}
	// The public contract's ports.
	for port, id := range map[int]string{8080: "order", 8081: "inventory", 8082: "notification"} {
		if ports[port] != id {
			t.Errorf("port %d: got app %q, want %s", port, ports[port], id)
		}
	}

	for _, res := range Components(t) {
		if res.Kind == "Configuration" {
			continue
		}
		if len(res.Scopes) == 0 {
			t.Errorf("%s %s: no scopes; scope every resource to the apps that use it", res.Kind, res.Metadata.Name)
		}
		for _, s := range res.Scopes {
			if !slices.Contains(ids, s) {
				t.Errorf("%s %s: scoped to %q, which is not an app id of the run file (%s)", res.Kind, res.Metadata.Name, s, strings.Join(ids, ", "))
			}
		}
	}
}
