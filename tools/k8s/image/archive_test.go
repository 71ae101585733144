package image

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1"
)

// TestWriteArchive checks the archive is an OCI layout naming the image for
// containerd, with every blob it refers to, and the same bytes every time.
func TestWriteArchive(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "server")
	if err := os.WriteFile(bin, []byte("#!/bin/true\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func() []byte {
		img, err := Build(bin)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := WriteArchive(&buf, img, "daprshop/server:1"); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	first := write()
	if !bytes.Equal(first, write()) {
		t.Error("two archives of the same binary differ")
	}

	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(first))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[hdr.Name] = data
	}
	var index v1.IndexManifest
	if err := json.Unmarshal(files["index.json"], &index); err != nil {
		t.Fatalf("index.json: %v", err)
	}
	if len(index.Manifests) != 2 {
		t.Fatalf("got %d manifests, want the image under 2 names", len(index.Manifests))
	}
	desc := index.Manifests[0]
	if got, want := desc.Annotations[ImageNameAnnotation], "docker.io/daprshop/server:1"; got != want {
		t.Errorf("got name %q, want %q", got, want)
	}
	byDigest := index.Manifests[1]
	if got, want := byDigest.Annotations[ImageNameAnnotation], "docker.io/daprshop/server@"+desc.Digest.String(); got != want || byDigest.Digest != desc.Digest {
		t.Errorf("got second name %q for %s, want %q for the same manifest", got, byDigest.Digest, want)
	}
	var m v1.Manifest
	if err := json.Unmarshal(files["blobs/sha256/"+desc.Digest.Hex], &m); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	for _, d := range append([]v1.Descriptor{m.Config}, m.Layers...) {
		if got := int64(len(files["blobs/sha256/"+d.Digest.Hex])); got != d.Size {
			t.Errorf("blob %s: got %d bytes, want %d", d.Digest, got, d.Size)
		}
	}
	if _, ok := files["oci-layout"]; !ok {
		t.Error("no oci-layout file")
	}
}
