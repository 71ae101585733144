package e2e

import (
	"testing"

	"github.com/daprshop/daprshop/tests/harness/system"
	"github.com/daprshop/daprshop/tests/suite"
)

// TestHostileClient: suite.HostileClient on a system of its own.
func TestHostileClient(t *testing.T) {
	sc := run.Scenario(t, "hostile client")
	suite.HostileClient(t, sc, suite.Start(t, sc, system.Options{}))
}

// TestHostileClientOnNATS: suite.HostileClientOnNATS on a system of its
// own.
func TestHostileClientOnNATS(t *testing.T) {
	sc := run.Scenario(t, "hostile client: NATS")
	suite.HostileClientOnNATS(t, sc, suite.Start(t, sc, system.Options{}))
}
