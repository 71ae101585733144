// Package findings lists the defects of Dapr's own that daprshop's suites
// found or replay: what a report's known finding names, what
// docs/findings.md describes under the same name, and what
// `make repro FINDING=name` runs.
package findings

import (
	"fmt"
	"slices"
	"strings"
)

// Finding is one defect of Dapr's, as a maintainer would want it.
type Finding struct {
	// Name is its slug: its anchor in docs/findings.md and what make repro
	// takes.
	Name string
	// Summary says what happens, in one sentence a report can carry.
	Summary string
	// Upstream is the issue or pull request that tracks or fixes it
	// ("dapr/dapr#10319"), "" when none is known.
	Upstream string
	// FixedIn is the first release without it, "" while every release has
	// it.
	FixedIn string
	// Repro is the smallest reproduction: the make arguments that run it
	// (none for a race not yet reproduced on demand).
	Repro []string
	// Evidence, when set, is what Dapr logs when this defect, and no
	// other, is what failed: a suite that finds it in a log knows the
	// failure for this one.
	Evidence string
}

// Doc is where the findings are described, one section each.
const Doc = "docs/findings.md"

// Known is what a scenario that shows f says of its failures
// (report.ScenarioRecorder.KnownIssue): the summary, where it is tracked,
// and its entry.
func (f Finding) Known() string {
	known := f.Summary
	if f.Upstream != "" {
		known += " (" + f.Upstream + ")"
	}
	return known + "; see " + Doc + "#" + f.Name
}

// Command is how a user types f's reproduction.
func (f Finding) Command() string { return "make " + strings.Join(f.Repro, " ") }

var (
	// OutboxRetriesForever: a redelivered outbox event is looked for
	// forever (every release run: 1.16.5, 1.17.5, 1.18.x).
	OutboxRetriesForever = Finding{
		Name: "outbox-retries-forever",
		Summary: "the outbox forwarder's ExponentialBackOff (pkg/runtime/pubsub/outbox.go) has no Stop: once its " +
			"MaxElapsedTime (10 s) has passed it retries the state Get with no delay, forever, instead of dropping an " +
			"event whose transaction record is gone (outboxDiscardWhenMissingState); the sidecar spins and cannot shut down",
		Repro: []string{"e2e", "E2E_RUN=TestOutboxRedelivery"},
	}
	// OutboxWaitsASecond: no outbox event is published sooner than a
	// second after its transaction (every release run).
	OutboxWaitsASecond = Finding{
		Name: "outbox-waits-a-second",
		Summary: "the outbox forwarder sleeps a fixed second (defaultStateScanDelay, pkg/runtime/pubsub/outbox.go, " +
			"not configurable) before it first looks for an event's transaction, so every outbox event reaches its " +
			"topic a second or more after the transaction committed, however fast the store and broker",
		Repro: []string{"e2e", "E2E_RUN=TestOutboxPublishesPromptly"},
	}
	// OutboxHoldsRolledBack: on PostgreSQL, the event of a transaction
	// that rolled back is never acknowledged (the same backoff).
	OutboxHoldsRolledBack = Finding{
		Name: "outbox-holds-rolled-back-events",
		Summary: "on state.postgresql v2 with pubsub.rabbitmq, the outbox's event of every transaction that rolled back " +
			"is retried forever and never acknowledged (the forwarder's backoff without Stop); daprd's shutdown then " +
			"hangs until its graceful-shutdown timeout and exits 1, or panics (nil pointer in state/postgresql/v2 Get, " +
			"the store closed under the retry)",
		Repro: []string{"contracts", "BACKEND=postgres-rabbitmq"},
	}
	// RedisAcksFailedHandlers: pubsub.redis from 1.17 acknowledges a
	// message whose handler failed.
	RedisAcksFailedHandlers = Finding{
		Name: "redis-acks-failed-handlers",
		Summary: "from 1.17, pubsub.redis acknowledges a message whose handler returned an error; the outbox forwards " +
			"from inside such a handler, so a forward whose publish failed loses its event for good (daprshop's " +
			"publish retries outlast processingTimeout to avoid it)",
		Upstream: "components-contrib#4208",
		Repro:    []string{"e2e", "E2E_RUN=TestFaultBrokerFull", "E2E_BREAK=resiliency"},
	}
	// RedisFirstWriteInTransactions: state.redis ignores first-write in a
	// transaction.
	RedisFirstWriteInTransactions = Finding{
		Name: "redis-first-write-in-transactions",
		Summary: "state.redis ignores the first-write concurrency of an operation inside a transaction: a create " +
			"without an ETag overwrites a key that exists, where the same save outside a transaction is refused",
		Upstream: "components-contrib#1010",
		Repro:    []string{"backends"},
	}
	// RabbitMQRestartStallsConsumer: after RabbitMQ restarts, a
	// subscriber may be left holding messages.
	RabbitMQRestartStallsConsumer = Finding{
		Name: "rabbitmq-restart-stalls-consumer",
		Summary: "after RabbitMQ restarts, pubsub.rabbitmq reconnects two subscriptions (orders, orders-deadletter) at " +
			"once on one channel; RabbitMQ closes it with 503 \"unexpected command received\" and a consumer may be " +
			"left that takes messages and never hands them to the app (144 of 200 notifications unsent until the " +
			"sidecar restarts, 2 runs of 3)",
		Repro: []string{"e2e", "BACKEND=postgres-rabbitmq", "E2E_RUN=TestFaultServerCrash/RabbitMQ"},
	}
	// FailedDeliveryAcked: a delivery whose request to the app failed
	// while another was under way may be acknowledged (every release run).
	FailedDeliveryAcked = Finding{
		Name: "failed-delivery-acked",
		Summary: "daprd's app channel wraps each call in one shared middleware pipeline whose root it replaces on " +
			"every call (pkg/middleware/http/pipeline.go), so concurrent calls run each other's handler: a delivery " +
			"whose request to the app failed (the app killed, the connection dropped) leaves its error on another " +
			"call and returns an empty 200 itself, which the subscription takes for SUCCESS; the event is " +
			"acknowledged and lost",
		Repro: []string{"e2e", "E2E_RUN=TestFailedDeliveriesAreNotAcknowledged"},
	}
	// PostgresMetadataRace: sidecars started at once on a new database.
	PostgresMetadataRace = Finding{
		Name: "postgres-metadata-table-race",
		Summary: "state.postgresql v2 creates its metadata table (dapr_metadata) with CREATE TABLE IF NOT EXISTS " +
			"before it takes its migration lock, a row of that table: sidecars starting at once on a new database " +
			"race, and the loser exits (\"type \\\"dapr_metadata\\\" already exists\", SQLSTATE 42710)",
		// Seen once by CI; the suite now starts one sidecar first on a new
		// database (system.Profile.FirstStartRace).
	}
	// UntimedOperations: latency histograms skipped sub-millisecond
	// operations (replayed; fixed in 1.18.2).
	UntimedOperations = Finding{
		Name: "untimed-fast-operations",
		Summary: "daprd truncated each component operation's latency to whole milliseconds and recorded only those " +
			"above zero: every sub-millisecond state or pub/sub call is missing from dapr_component_*_latencies " +
			"while dapr_component_*_count has it",
		Upstream: "dapr/dapr#10214, fixed by #10215",
		FixedIn:  "v1.18.2",
		Repro:    []string{"e2e", "E2E_RUN=TestMetricsAgreeWithTheSuite"},
	}
	// InternalPortTaken: a component's connection took the internal gRPC
	// port (replayed; fixed in 1.18.2).
	InternalPortTaken = Finding{
		Name: "internal-port-taken",
		Summary: "daprd bound its internal gRPC port only after its components connected, so a component's " +
			"connection could hold that port as its own end, and daprd exited (\"bind: address already in use\")",
		Upstream: "dapr/dapr#6023, fixed by #10149",
		FixedIn:  "v1.18.2",
		Repro:    []string{"e2e", "E2E_RUN=TestSidecarStartsAmidItsComponentsPorts"},
	}
	// NonStringTraceID: a CloudEvent whose traceid is not a string crashes
	// its subscribers' sidecars (replayed; fixed in 1.18.3).
	NonStringTraceID = Finding{
		Name: "non-string-traceid-panic",
		Summary: "daprd panics delivering a CloudEvent whose traceid is not a string (interface conversion in " +
			"pkg/runtime/subscription/postman/http Deliver); the event is redelivered and the subscriber's sidecar " +
			"crash-loops: any client allowed to publish on a topic takes its subscribers down",
		Upstream: "dapr/dapr#10319",
		FixedIn:  "v1.18.3",
		Repro:    []string{"e2e", "E2E_RUN=TestEventWithNonStringTraceID"},
	}
	// ConfigurationReloadsEverySidecar: any Configuration changed in a
	// namespace restarted the runtime of every sidecar there (replayed on
	// the cluster; fixed in 1.18.2's operator).
	ConfigurationReloadsEverySidecar = Finding{
		Name: "configuration-reloads-every-sidecar",
		Summary: "Dapr's operator streamed every Configuration of a namespace to every sidecar there, and a sidecar " +
			"restarts its runtime (SIGHUP) when its Configuration changes: creating or changing any Configuration, " +
			"another app's included, restarted every sidecar of the namespace",
		Upstream: "dapr/dapr#10132",
		FixedIn:  "v1.18.2",
		Repro:    []string{"k8s-e2e"},
	}
	// SentryReadsNoEd25519CA: a sentry before 1.17.7 cannot load the
	// Ed25519 CA that 1.18's sentry makes (found on the machines, rolled
	// back to 1.17.5).
	SentryReadsNoEd25519CA = Finding{
		Name: "sentry-reads-no-ed25519-ca",
		Summary: "from 1.18 sentry makes its root and issuer with Ed25519 keys; a sentry before 1.17.7 cannot load them " +
			"(\"unsupported key type ed25519.PrivateKey\") and exits, so no sidecar gets a certificate: machines or a " +
			"cluster first installed with 1.18 cannot be rolled back below 1.17.7 (Dapr's docs say so)",
		Upstream: "dapr/dapr#9598",
		FixedIn:  "v1.17.7",
		Repro:    []string{"vm-e2e", "VM_E2E_UPGRADE_FROM=v1.17.5"},
		Evidence: "unsupported key type ed25519",
	}
)

// All are every finding, in the order docs/findings.md lists them.
var All = []Finding{
	OutboxRetriesForever, OutboxWaitsASecond, OutboxHoldsRolledBack, RedisAcksFailedHandlers, RedisFirstWriteInTransactions,
	RabbitMQRestartStallsConsumer, FailedDeliveryAcked, PostgresMetadataRace, UntimedOperations, InternalPortTaken, NonStringTraceID,
	ConfigurationReloadsEverySidecar, SentryReadsNoEd25519CA,
}

// ByName is the finding called name, or an error listing every name.
func ByName(name string) (Finding, error) {
	names := make([]string, len(All))
	for i, f := range All {
		if f.Name == name {
			return f, nil
		}
		names[i] = f.Name
	}
	slices.Sort(names)
	return Finding{}, fmt.Errorf("no finding %q; the findings are: %s", name, strings.Join(names, ", "))
}
