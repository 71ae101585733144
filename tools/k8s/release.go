package k8s

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"
)

// ImagePrefix starts the name of every image this repository builds; the
// rest of the name is the service's directory under services/.
const ImagePrefix = "daprshop/"

// BaseImages returns the images that deploy/k8s/base names, with the tag
// each release carries. They are the images `make images` builds.
func BaseImages(root string) ([]types.Image, error) {
	path := filepath.Join(root, "deploy", "k8s", "base", "kustomization.yaml")
	images, err := readImages(path)
	if err != nil {
		return nil, err
	}
	for _, img := range images {
		if !strings.HasPrefix(img.Name, ImagePrefix) || img.NewTag == "" {
			return nil, fmt.Errorf("%s: image %q: want %sSERVICE with a newTag", path, img.Name, ImagePrefix)
		}
	}
	return images, nil
}

// Service returns the service directory an image of BaseImages is built from.
func Service(img types.Image) string { return strings.TrimPrefix(img.Name, ImagePrefix) }

// Overlays returns the names of the overlays under deploy/k8s/overlays.
func Overlays(root string) ([]string, error) {
	return subdirs(filepath.Join(root, "deploy", "k8s", "overlays"), "kustomization.yaml")
}

// Backends returns the names of the backend profiles under
// deploy/k8s/backends other than the overlays' own (Redis): each a
// kustomize Component that any overlay can add.
func Backends(root string) ([]string, error) {
	return subdirs(filepath.Join(root, "deploy", "k8s", "backends"), "kustomization.yaml")
}

// subdirs returns the names of the directories of dir that hold file.
func subdirs(dir, file string) ([]string, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*", file))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no %s under %s", file, dir)
	}
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = filepath.Base(filepath.Dir(p))
	}
	return names, nil
}

// Target is what one cluster deploys: an overlay, on the overlays' own
// backend (Backend "", Redis) or on one of Backends.
type Target struct{ Overlay, Backend string }

// Name is the target's name: the overlay's, followed by the backend's.
func (t Target) Name() string {
	if t.Backend == "" {
		return t.Overlay
	}
	return t.Overlay + "-" + t.Backend
}

// Targets returns every overlay on every backend.
func Targets(root string) ([]Target, error) {
	overlays, err := Overlays(root)
	if err != nil {
		return nil, err
	}
	backends, err := Backends(root)
	if err != nil {
		return nil, err
	}
	var targets []Target
	for _, backend := range append([]string{""}, backends...) {
		for _, o := range overlays {
			targets = append(targets, Target{Overlay: o, Backend: backend})
		}
	}
	return targets, nil
}

// PinnedDir is where WritePinned puts the kustomization of a target whose
// images are pinned to the digests just built.
func PinnedDir(out string, t Target) string { return filepath.Join(out, "k8s", t.Name()) }

// ReadPinned returns the images the pinned kustomization of t names.
func ReadPinned(out string, t Target) ([]types.Image, error) {
	return readImages(filepath.Join(PinnedDir(out, t), "kustomization.yaml"))
}

// readImages returns the images of the kustomization at path, which must
// have no field kustomize does not know.
func readImages(path string) ([]types.Image, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var k types.Kustomization
	if err := yaml.UnmarshalStrict(data, &k); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k.Images, nil
}

// WritePinned writes, under out, a kustomization that renders target t
// with every image pinned to its tag and digest: what a release deploys.
func WritePinned(root, out string, t Target, pinned []types.Image) error {
	dir := PinnedDir(out, t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	rel := func(path ...string) (string, error) {
		r, err := filepath.Rel(dir, filepath.Join(append([]string{root, "deploy", "k8s"}, path...)...))
		return filepath.ToSlash(r), err
	}
	overlay, err := rel("overlays", t.Overlay)
	if err != nil {
		return err
	}
	k := types.Kustomization{
		TypeMeta:  types.TypeMeta{APIVersion: types.KustomizationVersion, Kind: types.KustomizationKind},
		Resources: []string{overlay},
		Images:    pinned,
	}
	what := "deploy/k8s/overlays/" + t.Overlay
	if t.Backend != "" {
		backend, err := rel("backends", t.Backend)
		if err != nil {
			return err
		}
		k.Components = []string{backend}
		what += " on deploy/k8s/backends/" + t.Backend
	}
	data, err := yaml.Marshal(k)
	if err != nil {
		return err
	}
	header := fmt.Sprintf("# Written by `make images`: %s with the images just built.\n", what)
	return os.WriteFile(filepath.Join(dir, "kustomization.yaml"), append([]byte(header), data...), 0o644)
}
