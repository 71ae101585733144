// Package knobs is every setting a user can give make and the tests: one
// list, each with what it does, its default and the targets it applies to.
// `make help` prints it, and the README's table is checked against it.
//
// The naming rule: what a target works on is a plain noun (DAPRD, SENTRY,
// KUBE_APISERVER, SERVICES_DIR: a binary or directory used instead of
// building one; CANDIDATE, BASE, VERSIONS: what rc-check and matrix
// compare); a setting of one suite starts with its target's name (E2E_RUN,
// RC_ROUNDS). make takes each from its command line or the environment and
// exports it, so a knob works the same from make and from go test.
package knobs

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/semver"
)

// Knob is one setting, read from the environment.
type Knob struct {
	// Name is the environment (and make) variable.
	Name string
	// Default is the value when the variable is unset or empty; "" for none.
	Default string
	// DefaultDoc says what the default is when make computes it (the
	// pinned Dapr version, say) and Default is empty.
	DefaultDoc string
	// Targets are the make targets it changes.
	Targets string
	// Doc says what it does.
	Doc string
}

// Value returns the knob's value, or its default.
func (k Knob) Value() string {
	if v := os.Getenv(k.Name); v != "" {
		return v
	}
	return k.Default
}

// Set reports whether the user gave the knob a value.
func (k Knob) Set() bool { return os.Getenv(k.Name) != "" }

// Duration returns the knob's value as a Go duration ("90s", "10m").
func (k Knob) Duration() (time.Duration, error) {
	d, err := time.ParseDuration(k.Value())
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s=%q: want a positive duration such as 90s or 10m", k.Name, k.Value())
	}
	return d, nil
}

// Release returns the knob's value as a Dapr release's version
// ("v1.17.5").
func (k Knob) Release() (string, error) {
	if v := k.Value(); semver.IsValid(v) {
		return v, nil
	}
	return "", fmt.Errorf("%s=%q: want a Dapr release's version, such as v1.17.5", k.Name, k.Value())
}

// The knobs. Defaults that make computes (the pinned Dapr version) are
// written as make would say them.
var (
	Daprd = Knob{Name: "DAPRD", DefaultDoc: "the build of DAPR_VERSION", Targets: "test e2e bench soak run contracts k8s-e2e",
		Doc: "a daprd binary to run instead of building one (a release candidate, say); a relative path is relative to the repository"}
	DaprVersion = Knob{Name: "DAPR_VERSION", DefaultDoc: "the version tools/daprd pins", Targets: "test e2e bench soak run contracts",
		Doc: "the Dapr release whose daprd is built under out/dapr/ and run"}
	Sentry = Knob{Name: "SENTRY", DefaultDoc: "`make sentry`'s build, out/bin/sentry", Targets: "test selfhosted-hosts vm-e2e",
		Doc: "the sentry binary the self-hosted hosts test runs and the VM suite installs with the daprd under test; out/dapr/VERSION/sentry/sentry is built from that release's module (rc-check names each side's)"}
	KubeAPIServer = Knob{Name: "KUBE_APISERVER", DefaultDoc: "the build under out/kubernetes/kube-apiserver", Targets: "test k8s-validate",
		Doc: "the kube-apiserver that deploy/k8s is validated against"}
	Backend = Knob{Name: "BACKEND", Default: "redis", Targets: "run e2e contracts soak bench vm-e2e k8s-e2e",
		Doc: "the backend profile the sidecars' state and pub/sub run on: `redis` (components/) or `postgres-rabbitmq` (components/postgres-rabbitmq/, as root; on Kubernetes deploy/k8s/backends/postgres-rabbitmq, the servers outside the cluster)"}
	RunSecured = Knob{Name: "RUN_SECURED", Default: "false", Targets: "run",
		Doc: "`true` runs the system as production does: Dapr API and app tokens, a development issuer of clients' tokens (`make token`), NATS in JWT mode, mTLS between the sidecars from a sentry, every request traced to a viewer on 127.0.0.1:16686"}
	TokenCustomer = Knob{Name: "CUSTOMER", Targets: "token listen",
		Doc: "the customer `make token` asks the development issuer of `RUN_SECURED=true make run` a token for, and whose notifications `make listen` shows"}
	TokenRole = Knob{Name: "ROLE", Targets: "token",
		Doc: "`operator` makes `make token` ask for an operator's token (for CUSTOMER, or one named operator)"}
	ServicesDir = Knob{Name: "SERVICES_DIR", DefaultDoc: "built from this checkout", Targets: "test e2e bench selfhosted-hosts",
		Doc: "a directory holding order, inventory and notification binaries to run instead of building them from this checkout"}

	E2ERun = Knob{Name: "E2E_RUN", Default: ".", Targets: "e2e",
		Doc: "a regular expression: only the scenarios (Go tests) it matches run"}
	E2ECount = Knob{Name: "E2E_COUNT", Default: "1", Targets: "e2e",
		Doc: "how many times each scenario runs; above 1 the report gives each invariant's failure rate"}
	E2EOut = Knob{Name: "E2E_OUT", Default: "out/e2e", Targets: "test e2e",
		Doc: "the directory the e2e report goes to (report.json, .md, .html, .png, junit.xml)"}
	E2ELogs = Knob{Name: "E2E_LOGS", Default: "out/e2e/logs", Targets: "test e2e bench",
		Doc: "the directory every started process logs to, one folder per test"}
	E2ELoadDuration = Knob{Name: "E2E_LOAD_DURATION", Default: "10s", Targets: "test e2e k8s-e2e",
		Doc: "how long each load phase of the fault scenarios lasts; longer makes a soak"}
	E2EBreak = Knob{Name: "E2E_BREAK", Targets: "test e2e",
		Doc: "breaks a setting on purpose to see the suite catch it and name it: `resiliency` (no resiliency policy), `outbox-topic` (the orderstore without outboxPublishTopic), `dead-letter-exchange` (RabbitMQ's pubsub without enableDeadLetter; BACKEND=postgres-rabbitmq)"}
	K8SDaprVersion = Knob{Name: "K8S_E2E_DAPR_VERSION", DefaultDoc: "the version tools/daprd pins", Targets: "test k8s-e2e controlplane",
		Doc: "the Dapr release whose control plane (built from its Go module under out/dapr/VERSION/controlplane), Helm chart and CRDs the Kubernetes suite installs; the sidecars run the daprd under test"}
	K8SOut = Knob{Name: "K8S_E2E_OUT", Default: "out/k8s-e2e", Targets: "k8s-e2e",
		Doc: "the directory the Kubernetes suite's report (report.json, .md, .html) and the cluster's logs go to"}
	K8SUpgradeFrom = Knob{Name: "K8S_E2E_UPGRADE_FROM", DefaultDoc: "none: the cluster starts on what is under test", Targets: "k8s-e2e",
		Doc: "a Dapr release the Kubernetes suite installs first (its control plane, chart, CRDs and daprd, built under out/dapr/), then upgrades under load to K8S_E2E_DAPR_VERSION's control plane and the daprd under test, and at its end rolls back to"}
	K8SFaultOverlays = Knob{Name: "K8S_E2E_FAULT_OVERLAYS", Default: "dev production", Targets: "k8s-e2e",
		Doc: "the overlays the Kubernetes suite runs its faults under load on (`dev`: one pod an app, `production`: two); it deploys both either way. rc-check runs `production`'s only, which keeps a verdict under 45 minutes"}

	Finding = Knob{Name: "FINDING", Targets: "repro",
		Doc: "the Dapr defect to reproduce, by its name in docs/findings.md (`make repro` alone lists them)"}

	RCCandidate = Knob{Name: "CANDIDATE", DefaultDoc: "the pinned version", Targets: "rc-check",
		Doc: "the daprd judged: a version, a daprd binary, or a report.json"}
	RCBase = Knob{Name: "BASE", DefaultDoc: "the newest release before the candidate", Targets: "rc-check",
		Doc: "the baseline, given as CANDIDATE is"}
	RCRounds = Knob{Name: "RC_ROUNDS", Default: "5", Targets: "rc-check",
		Doc: "how many more times the latency scenarios (Dapr's operations one at a time) run on each side"}
	RCSuite = Knob{Name: "RC_SUITE", Default: "true", Targets: "rc-check",
		Doc: "`false` skips the suites, contracts and soak: the latency comparison alone"}
	RCPlatforms = Knob{Name: "RC_PLATFORMS", DefaultDoc: "`selfhosted vms k8s` as root, `selfhosted` otherwise", Targets: "rc-check",
		Doc: "the platforms each side is judged on: `selfhosted` (the suites, contracts and soak on daprd processes), `vms` (make vm-e2e: the booted machines on the side's sentry and daprd, an upgrade from BASE and back, and a fresh install rolled back to BASE) and `k8s` (make k8s-e2e: the cluster on BASE's release, upgraded under load to the side's control plane and daprd, the suite, and the rollback), and, named only, `postgres-rabbitmq` (the contracts and the suite again on PostgreSQL and RabbitMQ: about 13 minutes more a side); all but the first as root"}
	MatrixVersions = Knob{Name: "VERSIONS", Default: "releases", Targets: "matrix",
		Doc: "versions, daprd binaries or report.json files, oldest first; `releases` is every one in tools/daprd/releases"}
	MatrixBackends = Knob{Name: "MATRIX_BACKENDS", Default: "redis", Targets: "matrix",
		Doc: "the backend profiles make matrix runs each version's suite on (version x profile; `redis postgres-rabbitmq` for both, as root), each version compared with the one before it on the same profile; a report.json is set once, on its own profile"}

	VMOut = Knob{Name: "VM_E2E_OUT", Default: "out/vm-e2e", Targets: "vm-e2e",
		Doc: "the directory the VM suite's report goes to (report.json, .md, .html; followed by -PROFILE for another BACKEND)"}
	VMUpgradeFrom = Knob{Name: "VM_E2E_UPGRADE_FROM", DefaultDoc: "the newest release in tools/daprd/releases before the daprd under test", Targets: "test vm-e2e",
		Doc: "the Dapr release the VM suite installs first, upgrades to the daprd and sentry under test from, and rolls back to, and rolls its fresh install back to (its daprd and sentry built under out/dapr/ first)"}

	FuzzTime = Knob{Name: "FUZZ_TIME", Default: "10s", Targets: "fuzz",
		Doc: "how long each fuzz target runs (a Go duration, or Nx for N inputs)"}

	ImageRegistry = Knob{Name: "IMAGE_REGISTRY", Targets: "images",
		Doc: "the registry the rendered overlays pull the services' images from"}
	ReportSampleOut = Knob{Name: "REPORT_SAMPLE_OUT", Targets: "test",
		Doc: "a directory where the report's unit tests keep the sample report.html, report.png and compare.png they render"}

	SoakOrders = Knob{Name: "SOAK_ORDERS", Default: "100000", Targets: "soak",
		Doc: "how many orders the soak places (at least 100)"}
	SoakOut = Knob{Name: "SOAK_OUT", Default: "out/soak", Targets: "soak",
		Doc: "the directory the soak's report goes to (report.json, .md, .html; followed by -PROFILE for another BACKEND)"}
	SoakRate = Knob{Name: "SOAK_RATE", Default: "50", Targets: "soak",
		Doc: "how many orders a second the soak places (50 leaves 2 cores room: at 100 the answer's p50 measures the queue)"}
)

// All is every knob, in the order `make help` lists them.
var All = []Knob{
	Daprd, DaprVersion, Sentry, KubeAPIServer, Backend, RunSecured, TokenCustomer, TokenRole, ServicesDir,
	E2ERun, E2ECount, E2EOut, E2ELogs, E2ELoadDuration, E2EBreak, K8SDaprVersion, K8SOut, K8SUpgradeFrom, K8SFaultOverlays, Finding,
	RCCandidate, RCBase, RCRounds, RCSuite, RCPlatforms, MatrixVersions, MatrixBackends, VMOut, VMUpgradeFrom,
	FuzzTime, ImageRegistry, ReportSampleOut, SoakOrders, SoakOut, SoakRate,
}

// ProfileOut is out for the default backend profile, and out followed by
// the profile's name for another (out/bench-postgres-rabbitmq): a suite
// measured on each profile keeps each one's report beside the other's.
func ProfileOut(out string) string {
	if p := Backend.Value(); p != Backend.Default {
		return out + "-" + p
	}
	return out
}

// Int returns the knob's value as a positive whole number.
func (k Knob) Int() (int, error) {
	n, err := strconv.Atoi(k.Value())
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s=%q: want a positive whole number", k.Name, k.Value())
	}
	return n, nil
}

// Markdown is the table of every knob, which `make help` prints and the
// README carries.
func Markdown() string {
	var b strings.Builder
	b.WriteString("| knob | default | targets | what it does |\n| --- | --- | --- | --- |\n")
	for _, k := range All {
		def := "`" + k.Default + "`"
		switch {
		case k.DefaultDoc != "":
			def = k.DefaultDoc
		case k.Default == "":
			def = "unset"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", k.Name, def, k.Targets, k.Doc)
	}
	return b.String()
}

// Path returns the knob's value as a path, a relative one taken relative to
// the repository at root (where make runs), or fallback, relative to root
// too, when the knob and its default are empty.
func (k Knob) Path(root, fallback string) string {
	p := k.Value()
	if p == "" {
		p = fallback
	}
	if p != "" && !filepath.IsAbs(p) {
		p = filepath.Join(root, p)
	}
	return p
}
