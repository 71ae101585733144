package image

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/daprshop/daprshop/internal/imageref"
)

// ImageNameAnnotation names an image in an OCI archive for containerd:
// `ctr images import` creates an image of exactly this name, which the CRI
// plugin (the kubelet's runtime) finds only when it is fully qualified
// (imageref.FullName).
const ImageNameAnnotation = "io.containerd.image.name"

// WriteArchive writes img as an OCI archive (an OCI image layout in a tar
// stream) named ref, which `ctr -n k8s.io images import` loads as the image
// imageref.FullName(ref), and as that name's repository at the image's digest too
// (docker.io/daprshop/order@sha256:...): a pod that names the image by its
// digest, as a pinned overlay does, finds it only under that name, since
// the runtime would otherwise ask a registry for it. Every entry has a zero timestamp and a fixed order, so the
// same image always gives the same bytes.
func WriteArchive(w io.Writer, img v1.Image, ref string) error {
	full := imageref.FullName(ref)
	manifest, err := img.RawManifest()
	if err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	mediaType, err := img.MediaType()
	if err != nil {
		return err
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return err
	}
	cfgFile, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	descriptor := func(annotations map[string]string) v1.Descriptor {
		return v1.Descriptor{
			MediaType:   mediaType,
			Size:        int64(len(manifest)),
			Digest:      digest,
			Platform:    &v1.Platform{OS: cfgFile.OS, Architecture: cfgFile.Architecture},
			Annotations: annotations,
		}
	}
	repository := full[:strings.LastIndex(full, ":")]
	index := v1.IndexManifest{
		SchemaVersion: 2,
		MediaType:     types.OCIImageIndex,
		Manifests: []v1.Descriptor{
			descriptor(map[string]string{
				ImageNameAnnotation: full,
				RefNameAnnotation:   full[strings.LastIndex(full, ":")+1:],
			}),
			descriptor(map[string]string{ImageNameAnnotation: repository + "@" + digest.String()}),
		},
	}
	indexJSON, err := json.Marshal(index)
	if err != nil {
		return err
	}

	tw := tar.NewWriter(w)
	add := func(name string, size int64, body io.Reader) error {
		hdr := &tar.Header{Name: name, Mode: 0o444, Size: size, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := io.Copy(tw, body)
		return err
	}
	addBytes := func(name string, data []byte) error {
		return add(name, int64(len(data)), strings.NewReader(string(data)))
	}
	blob := func(h v1.Hash) string { return "blobs/" + h.Algorithm + "/" + h.Hex }

	if err := addBytes("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	if err := addBytes("index.json", indexJSON); err != nil {
		return err
	}
	if err := addBytes(blob(digest), manifest); err != nil {
		return err
	}
	if err := addBytes(blob(cfgName), cfg); err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return err
		}
		size, err := l.Size()
		if err != nil {
			return err
		}
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		err = add(blob(d), size, rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("layer %s: %w", d, err)
		}
	}
	return tw.Close()
}

// WriteArchiveFile writes the OCI archive of img named ref (WriteArchive)
// to path, replacing it.
func WriteArchiveFile(path string, img v1.Image, ref string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".archive-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := WriteArchive(tmp, img, ref); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
