package k8s

import (
	"archive/tar"
	"bufio"
	"context"
	"debug/elf"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/daprshop/daprshop/tests/harness/repo"
	"github.com/daprshop/daprshop/tools/build"
	"github.com/daprshop/daprshop/tools/k8s/image"
)

// TestImages reads each image `make images` wrote: a valid OCI image whose
// config runs the service's static binary as a non-root user, with that
// binary as its only file (no shell, nothing else); built again from the
// same source, it has the same digest; and its Dockerfile says the same.
func TestImages(t *testing.T) {
	t.Parallel() // mostly waiting on builds or the API server: overlap them
	root := repo.Root(t)
	refs, err := BaseImages(root)
	if err != nil {
		t.Fatal(err)
	}
	// Built again, from the same source, into a directory of its own.
	rebuilt := t.TempDir()
	svcs := make([]string, len(refs))
	for i, ref := range refs {
		svcs[i] = Service(ref)
	}
	if err := build.Build(context.Background(), root, rebuilt, svcs...); err != nil {
		t.Fatal(err)
	}
	for _, ref := range refs {
		svc := Service(ref)
		t.Run(svc, func(t *testing.T) {
			img, tag, err := image.Read(filepath.Join(outDir(t), "images", svc))
			if err != nil {
				t.Fatalf("%v (run `make images`)", err)
			}
			if err := validate.Image(img); err != nil {
				t.Errorf("not a valid image: %v", err)
			}
			if tag != ref.NewTag {
				t.Errorf("tag %q, want %q as deploy/k8s/base names it", tag, ref.NewTag)
			}
			if mt, _ := img.MediaType(); mt != types.OCIManifestSchema1 {
				t.Errorf("manifest media type %s, want %s", mt, types.OCIManifestSchema1)
			}
			m, err := img.Manifest()
			if err != nil {
				t.Fatal(err)
			}
			if m.Config.MediaType != types.OCIConfigJSON {
				t.Errorf("config media type %s, want %s", m.Config.MediaType, types.OCIConfigJSON)
			}
			cfg, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			uid, _, _ := strings.Cut(cfg.Config.User, ":")
			if n, err := strconv.Atoi(uid); err != nil || n == 0 {
				t.Errorf("user %q, want a numeric non-root user", cfg.Config.User)
			}
			if want := []string{"/" + svc}; !slices.Equal(cfg.Config.Entrypoint, want) {
				t.Errorf("entrypoint %q, want %q", cfg.Config.Entrypoint, want)
			}
			layers, err := img.Layers()
			if err != nil {
				t.Fatal(err)
			}
			if len(layers) != 1 {
				t.Fatalf("%d layers, want 1 (an empty base and the binary)", len(layers))
			}
			checkOnlyStaticBinary(t, layers[0].Uncompressed, svc)

			// Same source, same digest.
			want, _ := img.Digest()
			again, err := image.Build(filepath.Join(rebuilt, svc))
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := again.Digest(); got != want {
				t.Errorf("rebuilt from the same source: digest %s, want %s", got, want)
			}

			checkDockerfile(t, filepath.Join(root, "services", "Dockerfile"), svc, cfg.Config.User, cfg.Config.Entrypoint)
		})
	}
}

// checkOnlyStaticBinary: the layer holds one file, named svc, executable,
// and a statically linked ELF (no interpreter, no shared libraries).
func checkOnlyStaticBinary(t *testing.T, open func() (io.ReadCloser, error), svc string) {
	t.Helper()
	rc, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	var names []string
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, hdr.Name)
		if hdr.Name != svc {
			continue
		}
		if hdr.Mode&0o111 == 0 {
			t.Errorf("%s is not executable (mode %o)", svc, hdr.Mode)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		f, err := elf.NewFile(strings.NewReader(string(data)))
		if err != nil {
			t.Fatalf("%s is not an ELF binary: %v", svc, err)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
				t.Errorf("%s is dynamically linked", svc)
				break
			}
		}
	}
	if !slices.Equal(names, []string{svc}) {
		t.Errorf("layer holds %q, want only %q", names, svc)
	}
}

// checkDockerfile: the Dockerfile's stage named svc is the same image: an
// empty base, the same user and entrypoint, the binary built with the same
// flags.
func checkDockerfile(t *testing.T, path, svc, user string, entrypoint []string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var stage, from, gotUser, goBuild string
	var gotEntrypoint []string
	found := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		instr, arg, _ := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		if strings.EqualFold(instr, "FROM") { // a new stage: FROM base [AS name]
			base, name, _ := strings.Cut(arg, " ")
			stage = strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(name, "AS "), "as "))
			if stage == svc {
				from, found = base, true
			}
			continue
		}
		if strings.EqualFold(instr, "RUN") && strings.Contains(arg, "go build") {
			goBuild = arg
		}
		if stage != svc {
			continue
		}
		switch strings.ToUpper(instr) {
		case "USER":
			gotUser = arg
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(arg), &gotEntrypoint); err != nil {
				t.Errorf("%s: ENTRYPOINT %s: want the exec (JSON) form: %v", path, arg, err)
			}
		}
	}
	if !found {
		t.Fatalf("%s: no stage %q (FROM scratch AS %s)", path, svc, svc)
	}
	if from != "scratch" {
		t.Errorf("%s: stage %s FROM %q, want scratch", path, svc, from)
	}
	if gotUser != user {
		t.Errorf("%s: stage %s USER %q, want %q as the built image", path, svc, gotUser, user)
	}
	if !slices.Equal(gotEntrypoint, entrypoint) {
		t.Errorf("%s: stage %s ENTRYPOINT %q, want %q as the built image", path, svc, gotEntrypoint, entrypoint)
	}
	if !strings.Contains(goBuild, "./services/"+svc) {
		t.Errorf("%s: the go build does not build ./services/%s", path, svc)
	}
	for _, want := range append(slices.Clone(build.Env), build.Flags...) {
		if !strings.Contains(goBuild, want) {
			t.Errorf("%s: the go build does not use %s, which the built image's binary does", path, want)
		}
	}
}
