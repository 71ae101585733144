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
	dirs, err := filepath.Glob(filepath.Join(root, "deploy", "k8s", "overlays", "*", "kustomization.yaml"))
	if err != nil {
		return nil, err
	}
	if len(dirs) == 0 {
		return nil, fmt.Errorf("no overlays under %s", filepath.Join(root, "deploy", "k8s", "overlays"))
	}
	names := make([]string, len(dirs))
	for i, d := range dirs {
		names[i] = filepath.Base(filepath.Dir(d))
	}
	return names, nil
}

// PinnedDir is where WritePinned puts the kustomization of an overlay whose
// images are pinned to the digests just built.
func PinnedDir(out, overlay string) string { return filepath.Join(out, "k8s", overlay) }

// ReadPinned returns the images the pinned kustomization of overlay names.
func ReadPinned(out, overlay string) ([]types.Image, error) {
	return readImages(filepath.Join(PinnedDir(out, overlay), "kustomization.yaml"))
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

// WritePinned writes, under out, a kustomization that renders the overlay
// with every image pinned to its tag and digest: what a release deploys.
func WritePinned(root, out, overlay string, pinned []types.Image) error {
	dir := PinnedDir(out, overlay)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	rel, err := filepath.Rel(dir, filepath.Join(root, "deploy", "k8s", "overlays", overlay))
	if err != nil {
		return err
	}
	k := types.Kustomization{
		TypeMeta:  types.TypeMeta{APIVersion: types.KustomizationVersion, Kind: types.KustomizationKind},
		Resources: []string{filepath.ToSlash(rel)},
		Images:    pinned,
	}
	data, err := yaml.Marshal(k)
	if err != nil {
		return err
	}
	header := fmt.Sprintf("# Written by `make images`: deploy/k8s/overlays/%s with the images just built.\n", overlay)
	return os.WriteFile(filepath.Join(dir, "kustomization.yaml"), append([]byte(header), data...), 0o644)
}
