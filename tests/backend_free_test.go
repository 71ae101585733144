package tests_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// backendWord is what names a server behind Dapr's state and pub/sub
// (NATS is not one: notification talks to it itself).
var backendWord = regexp.MustCompile(`(?i)redis|postgres|rabbitmq|amqp`)

// TestServicesNameNoBackend checks that the services' code (tests aside)
// names no backend, not even in a comment: which servers hold the state and
// carry the events is the components' business (components/, one profile
// each), so a backend's quirk the code must know of comes from the
// deployment (config.EnvOrderStoreCreateETag) and is explained in
// docs/patterns.md.
func TestServicesNameNoBackend(t *testing.T) {
	checked := 0
	for _, dir := range []string{"../services", "../internal"} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			checked++
			for i, line := range strings.Split(string(data), "\n") {
				if w := backendWord.FindString(line); w != "" {
					t.Errorf("%s:%d names a backend (%q): %s", strings.TrimPrefix(path, "../"), i+1, w, strings.TrimSpace(line))
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if checked == 0 {
		t.Fatal("no service code found to check")
	}
}
