// Command cluster-images writes the images a test cluster runs that are not
// the services' own (its pause container and CoreDNS, a test server): each
// one static binary as an image (tools/k8s/image), written as an OCI archive
// that `ctr -n k8s.io images import` loads under its fully qualified name.
//
//	cluster-images -out DIR [-image NAME:TAG=BINARY ...] [-dynamic NAME:TAG=BINARY ...] [-layout NAME:TAG=DIR ...]
//
// -image makes an image of a static binary (run as /BASENAME); -dynamic of
// a dynamically linked one, with its loader and libraries, at its own path
// (Debian's redis-server, for the dev overlay's Redis); -layout takes the
// image of an OCI layout as it is, so its digest stays the one a pinned
// overlay names (make images writes the services' layouts).
//
// writes DIR/<NAME:TAG with "/" and ":" as "_">.tar for each image and
// prints each image's name and digest.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/daprshop/daprshop/internal/imageref"
	"github.com/daprshop/daprshop/tools/k8s/image"
)

func main() {
	if err := run(os.Args, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "cluster-images:", err)
		os.Exit(1)
	}
}

// sources are the ways to make an image, by flag.
var sources = []struct {
	flag, doc string
	build     func(src string) (v1.Image, error)
}{
	{"image", "NAME:TAG=BINARY, an image running the static BINARY as /BASENAME (repeatable)", image.Build},
	{"dynamic", "NAME:TAG=BINARY, an image running the dynamically linked BINARY at its path, with its libraries (repeatable)",
		func(bin string) (v1.Image, error) { return image.BuildDynamic(bin, bin) }},
	{"layout", "NAME:TAG=DIR, the image of the OCI layout DIR, as it is (repeatable)", func(dir string) (v1.Image, error) {
		img, _, err := image.Read(dir)
		return img, err
	}},
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	out := fs.String("out", "", "the directory the archives go to")
	// The repeated NAME:TAG=SOURCE flags, by kind.
	given := make([][]string, len(sources))
	for i, src := range sources {
		fs.Func(src.flag, src.doc, func(v string) error { given[i] = append(given[i], v); return nil })
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	count := 0
	for _, g := range given {
		count += len(g)
	}
	if *out == "" || count == 0 || fs.NArg() != 0 {
		return errors.New("usage: cluster-images -out DIR [-image NAME:TAG=BINARY ...] [-dynamic NAME:TAG=BINARY ...] [-layout NAME:TAG=DIR ...]")
	}
	for i, src := range sources {
		for _, spec := range given[i] {
			ref, from, ok := strings.Cut(spec, "=")
			if !ok || ref == "" || from == "" {
				return fmt.Errorf("-%s %q: want NAME:TAG=SOURCE", src.flag, spec)
			}
			if err := write(*out, ref, from, src.build, stdout); err != nil {
				return err
			}
		}
	}
	return nil
}

// write makes the image ref from source with build, writes its archive to
// dir, and prints its name and digest.
func write(dir, ref, source string, build func(string) (v1.Image, error), stdout io.Writer) error {
	img, err := build(source)
	if err != nil {
		return fmt.Errorf("image %s: %w", ref, err)
	}
	path := filepath.Join(dir, imageref.ArchiveName(ref))
	if err := image.WriteArchiveFile(path, img, ref); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s %s %s\n", imageref.FullName(ref), digest, path)
	return nil
}
