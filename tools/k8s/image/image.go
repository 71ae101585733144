// Package image builds the services' container images without a container
// engine: one static binary on an empty base, run as a non-root user, written
// as an OCI image layout. The same binary always gives the same digest.
package image

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"

	"github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// User is the user and group every image runs as: the conventional
// "nonroot" id of distroless images, with no entry in an /etc/passwd the
// image does not have.
const User = "65532:65532"

// RefNameAnnotation names an image inside an OCI layout (its tag).
const RefNameAnnotation = "org.opencontainers.image.ref.name"

// Build returns the image that runs the binary at binPath as /NAME, where NAME
// is the binary's file name. It has one layer holding that file alone, and
// every timestamp is zero, so the digest depends on the binary's bytes only.
func Build(binPath string) (v1.Image, error) {
	bin, err := os.ReadFile(binPath)
	if err != nil {
		return nil, err
	}
	name := path.Base(binPath)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := &tar.Header{
		Name:     name,
		Mode:     0o555,
		Size:     int64(len(bin)),
		Typeflag: tar.TypeReg,
		Format:   tar.FormatPAX,
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, err
	}
	if _, err := tw.Write(bin); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	layerBytes := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerBytes)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}

	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.AppendLayers(img, layer)
	if err != nil {
		return nil, fmt.Errorf("append layer: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS = "linux"
	cfg.Architecture = runtime.GOARCH
	cfg.Config.User = User
	cfg.Config.Entrypoint = []string{"/" + name}
	cfg.Config.WorkingDir = "/"
	// No history entries and no creation time: both would only add
	// differences between builds of the same binary.
	cfg.History = nil
	return mutate.ConfigFile(img, cfg)
}

// Write replaces the OCI image layout at dir with one holding img, tagged
// tag, and returns the image's digest.
func Write(dir string, img v1.Image, tag string) (v1.Hash, error) {
	if err := os.RemoveAll(dir); err != nil {
		return v1.Hash{}, err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return v1.Hash{}, err
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{RefNameAnnotation: tag})); err != nil {
		return v1.Hash{}, err
	}
	return img.Digest()
}

// Read returns the one image in the OCI layout at dir, and its tag.
func Read(dir string) (v1.Image, string, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, "", err
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, "", err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, "", err
	}
	if len(m.Manifests) != 1 {
		return nil, "", fmt.Errorf("%s: %d images, want 1", dir, len(m.Manifests))
	}
	desc := m.Manifests[0]
	img, err := idx.Image(desc.Digest)
	if err != nil {
		return nil, "", err
	}
	return img, desc.Annotations[RefNameAnnotation], nil
}
