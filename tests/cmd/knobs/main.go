// Command knobs prints every setting of make and the tests as a Markdown
// table: `make help`.
package main

import (
	"fmt"

	"github.com/daprshop/daprshop/tests/harness/knobs"
)

func main() { fmt.Print(knobs.Markdown()) }
