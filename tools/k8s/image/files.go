package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path"
	"runtime"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// File is a file of an image made from files of this machine: the file at
// Source (a symbolic link is followed) goes in the image at Path.
type File struct {
	Path   string
	Source string
}

// BuildFiles returns the image holding files, each a regular file (mode
// 0555 when executable on this machine, else 0444) under directories of
// mode 0755, that runs entrypoint as User. Like Build, it has one layer and
// no timestamp, so the same files always give the same digest.
func BuildFiles(files []File, entrypoint ...string) (v1.Image, error) {
	if len(entrypoint) == 0 {
		return nil, fmt.Errorf("no entrypoint")
	}
	byPath := map[string]string{}
	dirs := map[string]bool{}
	for _, f := range files {
		p := path.Clean("/" + f.Path)
		if prev, ok := byPath[p]; ok && prev != f.Source {
			return nil, fmt.Errorf("%s: from both %s and %s", p, prev, f.Source)
		}
		byPath[p] = f.Source
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	for d := range dirs {
		if _, ok := byPath[d]; ok {
			return nil, fmt.Errorf("%s: both a file and a directory", d)
		}
	}

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	// Directories before what they hold, everything in name order.
	for _, d := range slices.Sorted(maps.Keys(dirs)) {
		hdr := &tar.Header{Name: d[1:] + "/", Mode: 0o755, Typeflag: tar.TypeDir, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
	}
	for _, p := range slices.Sorted(maps.Keys(byPath)) {
		src := byPath[p]
		data, err := os.ReadFile(src)
		if err != nil {
			return nil, err
		}
		info, err := os.Stat(src)
		if err != nil {
			return nil, err
		}
		mode := int64(0o444)
		if info.Mode()&0o111 != 0 {
			mode = 0o555
		}
		hdr := &tar.Header{Name: p[1:], Mode: mode, Size: int64(len(data)), Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
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
	cfg.Config.Entrypoint = entrypoint
	cfg.Config.WorkingDir = "/"
	cfg.History = nil
	return mutate.ConfigFile(img, cfg)
}

// BuildDynamic returns the image that runs this machine's dynamically
// linked program binary as path (its name decides what some programs do:
// Debian's redis-server is a link to redis-check-rdb), with args given to
// the container after it, and holds what the program needs to start: the
// binary, its dynamic loader and every shared library it loads (Libraries),
// each at the path the loader looks for it. Nothing else: no shell, no
// /etc.
func BuildDynamic(binary, path string) (v1.Image, error) {
	libs, err := Libraries(binary)
	if err != nil {
		return nil, err
	}
	return BuildFiles(append([]File{{Path: path, Source: binary}}, libs...), path)
}

// Libraries returns the dynamic loader of the binary and every shared
// library it loads, as ldd (run here, on this machine's loader) lists
// them, each at the path ldd found it. The loader needs no cache in the
// image to find them there: Debian's look in /lib/MULTIARCH and
// /usr/lib/MULTIARCH by default.
func Libraries(binary string) ([]File, error) {
	out, err := exec.Command("ldd", binary).Output()
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w", binary, err)
	}
	var files []File
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		// "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)", the
		// loader as "/lib64/ld-linux-x86-64.so.2 (0x...)", the kernel's
		// "linux-vdso.so.1 (0x...)" with no file.
		line := strings.TrimSpace(sc.Text())
		name, found, ok := strings.Cut(line, " => ")
		if !ok {
			found = line
		}
		p, _, _ := strings.Cut(found, " (")
		switch {
		case p == "not found":
			return nil, fmt.Errorf("ldd %s: %s not found", binary, name)
		case strings.HasPrefix(p, "/"):
			files = append(files, File{Path: p, Source: p})
		case ok:
			return nil, fmt.Errorf("ldd %s: cannot read %q", binary, line)
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("ldd %s: no shared library: is it statically linked?", binary)
	}
	return files, nil
}
