// Command dapr is the Dapr CLI, built from the github.com/dapr/cli module at
// the version this module pins.
//
// This module exists because the project may download nothing but Go modules
// and Debian packages: the CLI's usual install (a prebuilt binary from a
// GitHub release) is out of reach, so `make build` compiles it from source
// instead. It is its own module so that the CLI's dependency graph (which
// pins github.com/dapr/dapr v1.16.2) never mixes with the services' or
// daprd's. Requiring components-contrib v1.16.5 keeps that graph on versions
// the module proxy serves.
//
// This is the CLI's own main: the build sets the version with
// -ldflags "-X main.version=1.16.5".
package main

import "github.com/dapr/cli/cmd"

// Set by the build (-X main.version=..., -X main.apiVersion=...), as the
// CLI's own Makefile does.
var (
	version    = ""
	apiVersion = "1.0"
)

func main() {
	cmd.Execute(version, apiVersion)
}
