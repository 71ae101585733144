// Command daprd is the Dapr sidecar runtime, built from the dapr module at the
// version this module pins, with only the components Dapr certifies stable.
package main

import "github.com/dapr/dapr/cmd/daprd/app"

func main() {
	app.Run()
}
