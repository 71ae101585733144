// Command build builds the services into a directory: `make services`.
//
//	go run ./tools/build/cmd/build -o out/bin
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/daprshop/daprshop/tools/build"
)

func main() {
	out := flag.String("o", "out/bin", "the directory the binaries go to")
	flag.Parse()
	if err := build.Build(context.Background(), ".", *out, flag.Args()...); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
}
