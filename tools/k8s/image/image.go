// Package image builds the services' container images without a container
// engine: one static binary on an empty base, run as a non-root user, written
// as an OCI image layout. The same binary always gives the same digest.
package image

import (
	"fmt"
	"os"
	"path"

	"github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// User is the user and group every image runs as: the conventional
// "nonroot" id of distroless images, with no entry in an /etc/passwd the
// image does not have.
const User = "65532:65532"

// RefNameAnnotation names an image inside an OCI layout (its tag).
const RefNameAnnotation = "org.opencontainers.image.ref.name"

// Build returns the image that runs the binary at binPath as /NAME, where NAME
// is the binary's file name. It has one layer holding that file alone, and
// every timestamp is zero, so the digest depends on the binary's bytes only
// (BuildFiles).
func Build(binPath string) (v1.Image, error) {
	name := "/" + path.Base(binPath)
	return BuildFiles([]File{{Path: name, Source: binPath}}, name)
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
