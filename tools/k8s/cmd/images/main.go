// Command images builds the container image of every service that
// deploy/k8s/base names, as OCI image layouts under OUT/images/SERVICE, and
// writes OUT/k8s/OVERLAY/kustomization.yaml for every overlay (and
// OUT/k8s/OVERLAY-BACKEND/ for it on each of deploy/k8s/backends), pinning
// each image to the tag and digest it built.
//
//	images -root REPO -out OUT [-registry REGISTRY]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/kustomize/api/types"

	"github.com/daprshop/daprshop/tools/build"
	"github.com/daprshop/daprshop/tools/k8s"
	"github.com/daprshop/daprshop/tools/k8s/image"
)

func main() {
	if err := run(context.Background(), os.Args, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	root := fs.String("root", ".", "the repository")
	out := fs.String("out", "out", "where the layouts and pinned overlays go")
	registry := fs.String("registry", "", "the registry (and path) the pinned overlays pull from, e.g. registry.example.com/team; none: the names as deploy/k8s/base has them")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return errors.New("usage: images -root REPO -out OUT [-registry REGISTRY]")
	}
	rootDir, err := filepath.Abs(*root)
	if err != nil {
		return err
	}
	outDir, err := filepath.Abs(*out)
	if err != nil {
		return err
	}

	imgs, err := k8s.BaseImages(rootDir)
	if err != nil {
		return err
	}
	binDir := filepath.Join(outDir, "images", "bin")
	svcs := make([]string, len(imgs))
	for i, ref := range imgs {
		svcs[i] = k8s.Service(ref)
	}
	if err := build.Build(ctx, rootDir, binDir, svcs...); err != nil {
		return err
	}
	pinned := make([]types.Image, 0, len(imgs))
	for _, ref := range imgs {
		svc := k8s.Service(ref)
		img, err := image.Build(filepath.Join(binDir, svc))
		if err != nil {
			return fmt.Errorf("image %s: %w", svc, err)
		}
		digest, err := image.Write(filepath.Join(outDir, "images", svc), img, ref.NewTag)
		if err != nil {
			return fmt.Errorf("write %s: %w", svc, err)
		}
		pin := types.Image{Name: ref.Name, NewTag: ref.NewTag, Digest: digest.String()}
		name := ref.Name
		if *registry != "" {
			name = strings.TrimSuffix(*registry, "/") + "/" + ref.Name
			pin.NewName = name
		}
		fmt.Fprintf(stdout, "%s:%s@%s\n", name, ref.NewTag, digest)
		pinned = append(pinned, pin)
	}

	targets, err := k8s.Targets(rootDir)
	if err != nil {
		return err
	}
	for _, target := range targets {
		if err := k8s.WritePinned(rootDir, outDir, target, pinned); err != nil {
			return fmt.Errorf("%s: %w", target.Name(), err)
		}
	}
	return nil
}
