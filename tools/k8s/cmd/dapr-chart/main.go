// Command dapr-chart renders Dapr's Helm chart, from the dapr module at a
// release's version, for a one-node test cluster, into one YAML stream (the
// CRDs first), what `helm template dapr dapr/dapr --namespace dapr-system
// --include-crds` would print:
//
//	dapr-chart -version v1.18.2 -registry REGISTRY [-tag TAG] [-daprd-tag TAG] [-values FILE ...] [-crds-out FILE] -out FILE
//
// With -crds-out, the CRDs go to a file of their own, to be applied (and
// established) before the rest, as `helm install` does: a file that holds
// both a CRD and an object of its kind cannot be applied in one go.
//
// The values of each -values file (a platform team's, such as
// deploy/k8s/dapr-values.yaml) go over the chart's own, and the test
// cluster's (chart.TestClusterValues: images REGISTRY/NAME:TAG never
// pulled, mTLS on, no HA, the schedulers' claims of one size) over those. -daprd-tag names another
// tag for the sidecar's image alone (REGISTRY/daprd:TAG): the daprd under
// test may be another build than the control plane.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/daprshop/daprshop/tools/k8s/chart"
)

func main() {
	if err := run(os.Args, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "dapr-chart:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	version := fs.String("version", "", "the dapr release whose chart to render (the Makefile passes the one tools/daprd pins)")
	registry := fs.String("registry", "", "the registry part of every image name: images are REGISTRY/NAME:TAG")
	tag := fs.String("tag", "", "every image's tag (default: the version, without its v)")
	daprdTag := fs.String("daprd-tag", "", "the tag of the sidecar's image, REGISTRY/daprd (default: -tag)")
	out := fs.String("out", "", "the file to write")
	crdsOut := fs.String("crds-out", "", "where the CRDs go (default: -out, first)")
	var values []string
	fs.Func("values", "a values file, as helm -f (repeatable; later ones win)", func(v string) error { values = append(values, v); return nil })
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *version == "" || *registry == "" || *out == "" || fs.NArg() != 0 {
		return errors.New("usage: dapr-chart -version vX.Y.Z -registry REGISTRY [-tag TAG] [-daprd-tag TAG] [-values FILE ...] -out FILE")
	}
	if *tag == "" {
		*tag = strings.TrimPrefix(*version, "v")
	}

	dir, err := chart.Dir(*version)
	if err != nil {
		return err
	}
	var layers []map[string]any
	for _, f := range values {
		v, err := chart.ReadValues(f)
		if err != nil {
			return err
		}
		layers = append(layers, v)
	}
	layers = append(layers, chart.TestClusterValues(*registry, *tag))
	if *daprdTag != "" {
		// A name with a "/" is the whole image name, to the chart.
		layers = append(layers, map[string]any{"dapr_sidecar_injector": map[string]any{
			"image": map[string]any{"name": *registry + "/daprd:" + *daprdTag},
		}})
	}
	ms, err := chart.Render(dir, chart.Merge(layers...))
	if err != nil {
		return err
	}
	header := fmt.Sprintf("# Dapr %s's Helm chart, rendered by tools/k8s/cmd/dapr-chart for namespace %s: images %s/NAME:%s.\n",
		*version, chart.Namespace, *registry, *tag)
	if *crdsOut != "" {
		var crds, rest []chart.Manifest
		for _, m := range ms {
			if m.CRD {
				crds = append(crds, m)
			} else {
				rest = append(rest, m)
			}
		}
		if err := writeStream(*crdsOut, header, crds); err != nil {
			return err
		}
		ms = rest
	}
	if err := writeStream(*out, header, ms); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d objects of dapr %s's chart\n", *out, len(ms), *version)
	return nil
}

// writeStream writes ms to file as one YAML stream under header.
func writeStream(file, header string, ms []chart.Manifest) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	return os.WriteFile(file, append([]byte(header), chart.Stream(ms)...), 0o644)
}
