package image

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// TestBuildDynamicRedis builds the test cluster's Redis image from Debian's
// redis-server (a dynamically linked program) and runs what it holds, in a
// root directory of its own: the program starts with nothing but the
// image's files.
func TestBuildDynamicRedis(t *testing.T) {
	const bin = "/usr/bin/redis-server"
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("no %s: install Debian's redis-server (make packages does)", bin)
	}
	img, err := BuildDynamic(bin, bin)
	if err != nil {
		t.Fatal(err)
	}
	// Written as an OCI layout and read back, as the services' images are
	// checked.
	dir := filepath.Join(t.TempDir(), "redis")
	if _, err := Write(dir, img, "7.4.1-alpine"); err != nil {
		t.Fatal(err)
	}
	written, _, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(written); err != nil {
		t.Fatalf("not a valid image: %v", err)
	}
	again, err := BuildDynamic(bin, bin)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := img.Digest()
	d2, _ := again.Digest()
	if d1 != d2 {
		t.Errorf("two builds of the same files: digests %s and %s, want the same", d1, d2)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Config.Entrypoint; !slices.Equal(got, []string{bin}) {
		t.Errorf("entrypoint %q, want [%s]", got, bin)
	}

	root := extract(t, img)
	libs, err := Libraries(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range append(libs, File{Path: bin}) {
		if info, err := os.Lstat(filepath.Join(root, f.Path)); err != nil || !info.Mode().IsRegular() {
			t.Errorf("%s: not a regular file in the image: %v", f.Path, err)
		}
	}

	// As its own root: its loader, libraries and name are the image's.
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("no unshare (Debian's util-linux) to run the image's program")
	}
	out, err := exec.Command("unshare", "-r", "chroot", root, bin, "--version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "Redis server v=") {
		t.Fatalf("%s --version in the image: %v: %s", bin, err, out)
	}
	t.Logf("in the image: %s", strings.TrimSpace(string(out)))
}

// TestBuildFilesRefusesClashes checks that one path cannot come from two
// files, nor be a file and a directory.
func TestBuildFilesRefusesClashes(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for _, f := range []string{a, b} {
		if err := os.WriteFile(f, []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, files := range map[string][]File{
		"one path, two files":    {{Path: "/x", Source: a}, {Path: "/x", Source: b}},
		"a file and a directory": {{Path: "/x", Source: a}, {Path: "/x/y", Source: b}},
	} {
		if _, err := BuildFiles(files, "/x"); err == nil {
			t.Errorf("%s: got an image, want an error", name)
		}
	}
}

// extract writes the image's file system into a new directory.
func extract(t *testing.T, img v1.Image) string {
	t.Helper()
	root := t.TempDir()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return root
		} else if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(root, filepath.FromSlash(hdr.Name))
		switch hdr.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, hdr.FileInfo().Mode().Perm())
		case tar.TypeReg:
			var data []byte
			if data, err = io.ReadAll(tr); err == nil {
				err = os.WriteFile(p, data, hdr.FileInfo().Mode().Perm())
			}
		default:
			t.Fatalf("%s: type %c: want directories and regular files only", hdr.Name, hdr.Typeflag)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}
