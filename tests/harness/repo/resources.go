package repo

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"
)

// Resource is a Dapr resource of components/ (a Component, Subscription,
// Configuration or Resiliency): the fields the tests look at.
type Resource struct {
	Kind     string
	Metadata struct{ Name string }
	Spec     struct {
		// Type and Version are a Component's.
		Type, Version string
		Metadata      []struct{ Name, Value string }
		// PubSubName, Topic and Routes are a Subscription's.
		PubSubName string `yaml:"pubsubname"`
		Topic      string
		Routes     struct{ Default string }
	}
	Scopes []string
	// File is the file it was read from.
	File string `yaml:"-"`
}

// Resources reads every resource of the YAML files in dir, in file order.
func Resources(dir string) ([]Resource, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no resources in %s", dir)
	}
	var out []Resource
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			r := Resource{File: f}
			if err := dec.Decode(&r); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// Components reads every resource of the repository's components/,
// failing the test when one cannot be read.
func Components(t testing.TB) []Resource {
	t.Helper()
	out, err := Resources(filepath.Join(Root(t), "components"))
	if err != nil {
		t.Fatal(err)
	}
	return out
}
