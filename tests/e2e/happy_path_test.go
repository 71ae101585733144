package e2e

import (
	"testing"

	"github.com/daprshop/daprshop/tests/harness/system"
	"github.com/daprshop/daprshop/tests/suite"
)

// TestHappyPath places one order through the whole system and follows it
// (suite.HappyPath).
func TestHappyPath(t *testing.T) {
	sc := run.Scenario(t, "happy path")
	suite.HappyPath(t, sc, suite.Start(t, sc, system.Options{}))
}
