// Command rc-check gives a verdict on a candidate daprd against a baseline:
// it runs the e2e suite on both, then the scenarios that time Dapr's
// operations one at a time (invocation, state, publish to delivery) on
// each, interleaved, round after round, and writes the comparison
// (compare.json, compare.md, compare.html) into -out:
//
//	rc-check -candidate /path/to/daprd -base v1.18.2 -out out/rc-check
//
// Each side is a Dapr version (built by `make daprd DAPR_VERSION=...`), a
// daprd binary, or the report.json of an earlier run (used as it is: no
// run, and its one run of each scenario). Without -base, the baseline is the
// newest release in tools/daprd/releases before the candidate's version.
// It runs the suite through `make e2e`, as a user would. With -platforms
// "selfhosted vms k8s" each side also runs, as root, `make vm-e2e` (booted
// machines) and `make k8s-e2e` (a one-node cluster), each of which
// installs the baseline's release, upgrades it under load to the side's
// (on the cluster: that release's control plane, or the baseline's for a
// daprd binary, and the side's daprd) and rolls it back; each platform's
// reports are compared in a section of its own. It exits 1 when the
// candidate regressed, 2 when it cannot tell.
//
// With -matrix it runs the suite on each of several sides instead (default:
// every release in tools/daprd/releases), oldest first, and writes them
// side by side (matrix.json, matrix.md, matrix.html), each compared with
// the one before it.
package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/mod/semver"

	"github.com/daprshop/daprshop/tests/compare"
	"github.com/daprshop/daprshop/tests/harness/knobs"
	"github.com/daprshop/daprshop/tests/harness/repo"
	"github.com/daprshop/daprshop/tests/report"
)

// latencyTests run the suite's scenarios that time Dapr's operations one
// at a time (tests/e2e/latency_test.go), run again round after round.
const latencyTests = "^(TestInvocationLatency|TestBuildingBlockLatency)$"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	regressed, err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err != nil:
		fmt.Fprintln(os.Stderr, "rc-check:", err)
		os.Exit(2)
	case regressed:
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) (bool, error) {
	fs := flag.NewFlagSet("rc-check", flag.ContinueOnError)
	candArg := fs.String("candidate", "", "the candidate: a Dapr version, a daprd binary, or a report.json")
	baseArg := fs.String("base", "", "the baseline, as -candidate; default: the newest release in tools/daprd/releases before the candidate")
	rounds := fs.Int("rounds", 5, "interleaved runs of the latency scenarios on each side, after the suite's own; latencies one at a time are judged over 3 runs a side or more")
	withSuite := fs.Bool("suite", true, "run the whole suite on each side first; false: the latency runs alone")
	matrix := fs.String("matrix", "", "space-separated sides to run the suite on and set side by side, oldest first; \"releases\": tools/daprd/releases")
	backends := fs.String("backends", "redis", "with -matrix: space-separated backend profiles to run each side's suite on (version x profile)")
	out := fs.String("out", "out/rc-check", "directory for the reports and the comparison (relative to the repository)")
	platformList := fs.String("platforms", platformSelfHosted, "space-separated platforms each side is judged on: selfhosted, vms, k8s, postgres-rabbitmq")
	if err := fs.Parse(args); err != nil {
		return false, err
	}
	if *matrix != "" {
		return false, runMatrix(ctx, *matrix, strings.Fields(*backends), *out, stdout, stderr)
	}
	if *candArg == "" {
		return false, errors.New("-candidate is required")
	}
	if *rounds < 0 || *rounds == 0 && !*withSuite {
		return false, fmt.Errorf("-rounds %d with -suite=%v: nothing would run", *rounds, *withSuite)
	}
	platforms, err := parsePlatforms(*platformList)
	if err != nil {
		return false, err
	}
	r, err := newRunner(*out, stderr)
	if err != nil {
		return false, err
	}

	cand, err := r.resolve(ctx, "candidate", *candArg)
	if err != nil {
		return false, err
	}
	if *baseArg == "" {
		if *baseArg, err = r.defaultBase(cand.version); err != nil {
			return false, err
		}
		fmt.Fprintf(stderr, "rc-check: baseline %s, the newest release before %s\n", *baseArg, cand.version)
	}
	base, err := r.resolve(ctx, "base", *baseArg)
	if err != nil {
		return false, err
	}
	sides := []*side{base, cand}

	// The whole suite on each side, then the latency scenarios again,
	// alternating which side goes first, so that whatever drifts on the
	// machine meanwhile lands on both.
	if *withSuite {
		for _, s := range sides {
			if err := r.judge(ctx, s, base, platforms); err != nil {
				return false, err
			}
		}
	}
	for i := range *rounds {
		order := sides
		if i%2 == 1 {
			order = []*side{cand, base}
		}
		for _, s := range order {
			if err := r.latencyRound(ctx, s, i); err != nil {
				return false, err
			}
		}
	}

	if why := base.runs.Suite.Unfinished; why != "" {
		return false, fmt.Errorf("no verdict: the baseline's suite did not finish (%s)", why)
	}
	res := compare.Compare(base.runs, cand.runs, compare.DefaultThresholds)
	if base.soak != nil && cand.soak != nil {
		res.Add(compareSoaks(*base.soak, *cand.soak))
	}
	if base.contracts != "" && cand.contracts != "" {
		res.Add(compareContracts(base.contracts, cand.contracts))
	}
	if base.vms != nil && cand.vms != nil {
		res.AddPlatform(vmsPlatform, comparePlatform(*base.vms, *cand.vms))
	}
	if base.k8s != nil && cand.k8s != nil {
		res.AddPlatform(k8sPlatform, comparePlatform(*base.k8s, *cand.k8s))
	}
	if base.postgres != nil && cand.postgres != nil {
		res.AddPlatform(postgresPlatform, compareOnPostgres(base, cand))
	}
	res.Method = method(base, cand, *withSuite, *rounds)
	if err := compare.Write(r.out, res, base.runs.Suite, cand.runs.Suite); err != nil {
		return false, err
	}
	fmt.Fprint(stdout, compare.Markdown(res))
	fmt.Fprintf(stderr, "rc-check: %s\n", filepath.Join(r.out, "compare.md"))
	return res.Regressed, nil
}

// compareContracts judges how the adapters' contracts ended on each side:
// contracts that passed on the baseline must pass on the candidate.
func compareContracts(base, cand string) compare.Result {
	regressed := base == contractsPassed && cand != contractsPassed
	return compare.Result{Regressed: regressed, Changes: []compare.Change{{Scenario: "the adapters' contracts (make contracts)", What: "passed",
		Base: base, Candidate: cand, Regression: regressed}}}
}

// compareOnPostgres judges the sides' contracts and suite on the
// postgres-rabbitmq profile, as a platform of its own.
func compareOnPostgres(base, cand *side) compare.Result {
	res := compareContracts(base.postgresContracts, cand.postgresContracts)
	res.Add(comparePlatform(*base.postgres, *cand.postgres))
	return res
}

// compareSoaks judges the two sides' soaks against each other (latency,
// CPU and memory per request), and shows each one's own invariants
// without judging them: those judge one run within itself (its last
// tenths against its second), which 3,000 orders leave noisy. 1.18.2
// against itself once failed "flat: p50 of an answer" at 1.57 times.
func compareSoaks(base, cand report.Report) compare.Result {
	every := func(r report.Report) []report.Invariant {
		var all []report.Invariant
		for _, s := range r.Scenarios {
			all = append(all, s.Invariants...)
		}
		return all
	}
	res := compare.Compare(compare.Side{Suite: withoutInvariants(base)}, compare.Side{Suite: withoutInvariants(cand)}, compare.DefaultThresholds)
	res.Changes = append(res.Changes, compare.Change{Scenario: "the soak's own invariants (each within its run: shown, not judged)",
		What: "invariants", Base: held(every(base)), Candidate: held(every(cand))})
	return res
}

// held says how many of invariants held, then what each that failed
// observed.
func held(invariants []report.Invariant) string {
	n := 0
	var failed []string
	for _, inv := range invariants {
		if inv.Passed {
			n++
		} else {
			failed = append(failed, inv.Name+": "+inv.Observed)
		}
	}
	return strings.Join(append([]string{fmt.Sprintf("%d of %d held", n, len(invariants))}, failed...), "; ")
}

// withoutInvariants is r with no invariants checked.
func withoutInvariants(r report.Report) report.Report {
	r.Scenarios = slices.Clone(r.Scenarios)
	for i := range r.Scenarios {
		r.Scenarios[i].Invariants = nil
	}
	return r
}

// The platforms a side can be judged on. postgres-rabbitmq is the
// self-hosted suite and contracts again on the second backend profile:
// about 13 minutes more a side, so it is named, not a default.
const (
	platformSelfHosted = "selfhosted"
	platformVMs        = "vms"
	platformK8s        = "k8s"
	platformPostgres   = "postgres-rabbitmq"
)

// parsePlatforms reads -platforms. The self-hosted suites are the verdict's
// core (the latency rounds are theirs), so they cannot be left out.
func parsePlatforms(list string) (map[string]bool, error) {
	platforms := map[string]bool{}
	for _, p := range strings.Fields(list) {
		if p != platformSelfHosted && p != platformVMs && p != platformK8s && p != platformPostgres {
			return nil, fmt.Errorf("-platforms: unknown platform %q: want %s, %s, %s, %s", p, platformSelfHosted, platformVMs, platformK8s, platformPostgres)
		}
		platforms[p] = true
	}
	if !platforms[platformSelfHosted] {
		return nil, fmt.Errorf("-platforms %q: %s is always judged, name it too", list, platformSelfHosted)
	}
	return platforms, nil
}

// upgradeFrom is the release the VM and Kubernetes suites of either side
// install first, upgrade from and roll back to: the baseline's version,
// when it is a release's (else the VM suite's own default, the release
// before the side's daprd, and no upgrade on the cluster).
func upgradeFrom(base *side) string {
	if isRelease(base.version) {
		return base.version
	}
	return ""
}

// isRelease reports whether version is a release's: vX.Y.Z.
func isRelease(version string) bool {
	return semver.IsValid(version) && semver.Prerelease(version) == "" && semver.Build(version) == ""
}

// controlPlane is the release whose control plane, chart and CRDs the
// Kubernetes suite installs for s: its own when s was given as a version,
// else the baseline's when that is a release (a daprd binary is a sidecar,
// judged with the control plane it would join), else "" (the pinned one).
func controlPlane(s, base *side) string {
	if s.release != "" {
		return s.release
	}
	return upgradeFrom(base)
}

// The platforms' sections of the comparison.
const (
	vmsPlatform      = "VMs (make vm-e2e: booted machines, systemd, the upgrade and the rollback)"
	k8sPlatform      = "Kubernetes (make k8s-e2e: Dapr's chart on a one-node cluster, the upgrade and the rollback)"
	postgresPlatform = "self-hosted on PostgreSQL and RabbitMQ (make postgres-rabbitmq: the adapters' contracts and the suite)"
)

// comparePlatform judges the candidate's run of a platform's suite (VMs,
// Kubernetes) against the baseline's: the same scenarios, and the same
// upgrade and rollback (from the same release) to each side's Dapr. Each
// scenario also says how many of its invariants held on each side, so
// that a run with nothing to flag still shows what it checked.
func comparePlatform(base, cand report.Report) compare.Result {
	res := compare.Compare(compare.Side{Suite: base}, compare.Side{Suite: cand}, compare.DefaultThresholds)
	baseByName := map[string]report.Scenario{}
	for _, s := range base.Scenarios {
		baseByName[s.Name] = s
	}
	for _, cs := range cand.Scenarios {
		if bs, ok := baseByName[cs.Name]; ok {
			res.Changes = append(res.Changes, compare.Change{Scenario: cs.Name, What: "invariants", Base: held(bs.Invariants), Candidate: held(cs.Invariants)})
		}
	}
	return res
}

// method says how the sides were run, for the comparison's reader.
func method(base, cand *side, withSuite bool, rounds int) string {
	ran := func(s *side) string {
		if s.daprd == "" {
			return fmt.Sprintf("%s is its report, one run of each scenario", s.version)
		}
		// In the order judge runs them.
		var parts []string
		if withSuite {
			parts = append(parts, "the whole suite and the adapters' contracts once")
		}
		if s.vms != nil {
			parts = append(parts, "the VM suite (make vm-e2e) once, "+s.vmsRun)
		}
		if s.postgres != nil {
			parts = append(parts, "the adapters' contracts and the suite once on PostgreSQL and RabbitMQ")
		}
		if s.k8s != nil && len(parts) > 0 {
			parts[len(parts)-1] += ", with the Kubernetes suite (make k8s-e2e) once beside them, " + s.k8sRun
		}
		if withSuite {
			parts = append(parts, fmt.Sprintf("a %d-order soak alone", rcSoakOrders))
		}
		times := fmt.Sprintf("%d times", rounds)
		if rounds == 1 {
			times = "once"
		}
		switch {
		case rounds > 0 && withSuite:
			parts = append(parts, "the latency scenarios again "+times)
		case rounds > 0:
			parts = append(parts, "the latency scenarios "+times)
		}
		return fmt.Sprintf("%s ran %s", s.version, strings.Join(parts, ", then "))
	}
	m := "Runs: " + ran(base) + "; " + ran(cand) + "."
	if base.daprd != "" && cand.daprd != "" && rounds > 0 {
		m += " The latency rounds alternated between the sides, which went first in turn."
	}
	return m
}

// side is the baseline or the candidate.
type side struct {
	role    string // "base" or "candidate": the directory its runs go to
	daprd   string // empty for a side given as a report
	version string
	runs    compare.Side
	// soak is the short soak's report, and contracts how the adapters'
	// contracts ended (contractsPassed, or where their log is), for a side
	// that ran the suite.
	soak      *report.Report
	contracts string
	// vms is the VM suite's report, for a side judged on VMs, and vmsRun
	// what its machines ran.
	vms    *report.Report
	vmsRun string
	// k8s is the Kubernetes suite's report, for a side judged on a
	// cluster, and k8sRun what that cluster ran.
	k8s    *report.Report
	k8sRun string
	// postgres is the suite's report on the postgres-rabbitmq profile,
	// and postgresContracts how the contracts ended there, for a side
	// judged on it.
	postgres          *report.Report
	postgresContracts string
	// release is the version the side was given as, "" for a binary or a
	// report.
	release string
	// backend is the backend profile its suite runs on, "" for BACKEND's.
	backend string
}

// rcSoakOrders is the short soak each side runs, as make test's.
const rcSoakOrders = 3000

// contractsPassed is side.contracts of contracts that passed.
const contractsPassed = "yes"

type runner struct {
	root, out string
	log       io.Writer
}

func newRunner(out string, log io.Writer) (runner, error) {
	root, err := repo.Find()
	if err != nil {
		return runner{}, err
	}
	r := runner{root: root, out: out, log: log}
	if !filepath.IsAbs(r.out) {
		r.out = filepath.Join(root, r.out)
	}
	return r, nil
}

// runMatrix runs the suite on every side of sides and writes the matrix.
func runMatrix(ctx context.Context, sides string, backends []string, out string, stdout, stderr io.Writer) error {
	if len(backends) == 0 {
		return errors.New("-backends: name one backend profile at least")
	}
	r, err := newRunner(out, stderr)
	if err != nil {
		return err
	}
	args := strings.Fields(sides)
	if sides == "releases" {
		if args, err = repo.Releases(r.root); err != nil {
			return err
		}
	}
	// Profile by profile, each side oldest first; a report is its own
	// run, on its own profile, set once.
	var reports []report.Report
	for n, backend := range backends {
		for i, arg := range args {
			if n > 0 && strings.HasSuffix(arg, ".json") {
				continue
			}
			s, err := r.resolve(ctx, fmt.Sprintf("%d-%s-%s", i+1, strings.TrimPrefix(filepath.Base(arg), "v"), backend), arg)
			if err != nil {
				return err
			}
			s.backend = backend
			if err := r.suite(ctx, s); err != nil {
				return err
			}
			reports = append(reports, s.runs.Suite)
		}
	}
	m := compare.NewMatrix(reports, compare.DefaultThresholds)
	if err := os.MkdirAll(r.out, 0o755); err != nil {
		return err
	}
	page, err := m.HTML()
	if err != nil {
		return err
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	for name, content := range map[string][]byte{"matrix.json": append(data, '\n'), "matrix.md": []byte(m.Markdown()), "matrix.html": []byte(page)} {
		if err := os.WriteFile(filepath.Join(r.out, name), content, 0o644); err != nil {
			return err
		}
	}
	fmt.Fprint(stdout, m.Markdown())
	fmt.Fprintf(stderr, "rc-check: %s\n", filepath.Join(r.out, "matrix.md"))
	return nil
}

// resolve turns a -base or -candidate argument into a side: a report is
// read, a version built, a binary checked.
func (r runner) resolve(ctx context.Context, role, arg string) (*side, error) {
	s := &side{role: role}
	switch {
	case strings.HasSuffix(arg, ".json"):
		rep, err := report.Read(r.abs(arg))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", role, err)
		}
		s.runs.Suite, s.version = rep, "v"+strings.TrimPrefix(rep.Environment.DaprdVersion, "v")
		return s, nil
	case semver.IsValid(arg) && !strings.Contains(arg, "/"):
		// DAPRD= on the command line: a DAPRD in the environment would
		// have make check that binary instead of building this version.
		if err := r.make(ctx, nil, "daprd", "DAPR_VERSION="+arg, "DAPRD="); err != nil {
			return nil, fmt.Errorf("%s: build daprd %s: %w", role, arg, err)
		}
		s.daprd = repo.ReleaseDaprd(r.root, arg)
		s.release = arg
	default:
		s.daprd = r.abs(arg)
	}
	out, err := exec.CommandContext(ctx, s.daprd, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %s --version: %w", role, arg, s.daprd, err)
	}
	s.version = "v" + strings.TrimPrefix(strings.TrimSpace(string(out)), "v")
	// What the comparison calls this side, until a suite's report says more.
	s.runs.Suite.Environment = report.Environment{DaprdVersion: strings.TrimPrefix(s.version, "v"), DaprdPath: s.daprd}
	return s, nil
}

func (r runner) abs(path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(r.root, path)
}

// defaultBase is the newest release before version in tools/daprd/releases.
func (r runner) defaultBase(version string) (string, error) {
	releases, err := repo.Releases(r.root)
	if err != nil {
		return "", err
	}
	if !semver.IsValid(version) {
		return "", fmt.Errorf("the candidate's version %q is not a semantic version: name the baseline with -base", version)
	}
	best := repo.ReleaseBefore(releases, version)
	if best == "" {
		return "", fmt.Errorf("no release in tools/daprd/releases is older than %s: name the baseline with -base", version)
	}
	return best, nil
}

// judge runs on s everything it is judged on but the latency rounds. The
// Kubernetes suite, which mostly waits on its cluster, runs beside the
// self-hosted suite, the contracts and the VM suite, one after another,
// as make test runs it beside the others; what the platforms' suites run
// on is built first (make's PLATFORM-prepare targets), so that no build
// runs beside a suite. The soak, which compares its own start with its
// end, runs alone after. Both sides run the same steps in the same order,
// so that what one suite costs another lands on both.
func (r runner) judge(ctx context.Context, s, base *side, platforms map[string]bool) error {
	if s.daprd == "" {
		return nil
	}
	from, controlPlane := upgradeFrom(base), controlPlane(s, base)
	if platforms[platformVMs] {
		if err := r.prepare(ctx, s, "vm-e2e", r.vmKnobs(s, controlPlane, from)); err != nil {
			return err
		}
	}
	var cluster chan error
	if platforms[platformK8s] {
		if err := r.prepare(ctx, s, "k8s-e2e", r.k8sKnobs(s, controlPlane, from)); err != nil {
			return err
		}
		cluster = make(chan error, 1)
		go func() { cluster <- r.k8s(ctx, s, controlPlane, from) }()
	}
	err := r.suite(ctx, s)
	if err == nil {
		s.contracts, err = r.contracts(ctx, s, "")
	}
	if err == nil && platforms[platformVMs] {
		err = r.vms(ctx, s, controlPlane, from)
	}
	if err == nil && platforms[platformPostgres] {
		err = r.onPostgres(ctx, s)
	}
	if cluster != nil {
		// Waited for even when the others failed: the cluster's suite
		// stops its own processes, bounded by its timeout.
		if clusterErr := <-cluster; err == nil {
			err = clusterErr
		}
	}
	if err != nil {
		return err
	}
	return r.soak(ctx, s)
}

// prepare builds and installs everything make target runs on for s, with
// knobArgs (make's TARGET-prepare); the suite then runs with make told
// not to prepare it again (prepared).
func (r runner) prepare(ctx context.Context, s *side, target string, knobArgs []string) error {
	fmt.Fprintf(r.log, "rc-check: %s %s: make %s-prepare\n", s.role, s.version, target)
	args := append([]string{target + "-prepare", knobs.Daprd.Name + "=" + s.daprd}, knobArgs...)
	if err := r.make(ctx, nil, args...); err != nil {
		return fmt.Errorf("%s %s: prepare %s: %w", s.role, s.version, target, err)
	}
	return nil
}

// prepared are the arguments of make target, after a prepare of it.
func prepared(target string) []string { return []string{target, "-o", target + "-prepare"} }

// suite runs the whole e2e suite on s: a failing suite still gives a report
// to compare, but no report is an error.
func (r runner) suite(ctx context.Context, s *side) error {
	if s.daprd == "" {
		return nil
	}
	dir := filepath.Join(r.out, s.role, "suite")
	rep, err := r.e2e(ctx, s, dir, s.backend, "")
	if err != nil {
		return err
	}
	s.runs.Suite = rep
	return nil
}

// contracts runs the adapters' contracts on s's daprd, on backend's
// servers ("" for the default profile's), and says how they ended:
// contractsPassed, or where the log of those that failed is.
func (r runner) contracts(ctx context.Context, s *side, backend string) (string, error) {
	dir := filepath.Join(r.out, s.role)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	args, name := []string{"contracts", knobs.Daprd.Name + "=" + s.daprd}, "contracts"
	if backend != "" {
		args, name = append(args, knobs.Backend.Name+"="+backend), name+"-"+backend
	}
	logPath := filepath.Join(dir, name+".log")
	log, err := os.Create(logPath)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(r.log, "rc-check: %s %s: make %s (log: %s)\n", s.role, s.version, strings.Join(args, " "), logPath)
	runErr := r.make(ctx, log, args...)
	log.Close()
	if runErr != nil {
		return "NO: see " + logPath, nil
	}
	return contractsPassed, nil
}

// onPostgres runs the adapters' contracts and the whole suite on s's
// daprd on the postgres-rabbitmq profile, and keeps how they ended.
func (r runner) onPostgres(ctx context.Context, s *side) error {
	ended, err := r.contracts(ctx, s, platformPostgres)
	if err != nil {
		return err
	}
	rep, err := r.e2e(ctx, s, filepath.Join(r.out, s.role, "suite-"+platformPostgres), platformPostgres, "")
	if err != nil {
		return err
	}
	s.postgres, s.postgresContracts = &rep, ended
	return nil
}

// soak runs a short soak on s's daprd and keeps its report.
func (r runner) soak(ctx context.Context, s *side) error {
	dir := filepath.Join(r.out, s.role, "soak")
	rep, err := r.suiteRun(ctx, s, knobs.ProfileOut(dir), "soak", knobs.SoakOut.Name+"="+dir, fmt.Sprintf("%s=%d", knobs.SoakOrders.Name, rcSoakOrders))
	if err != nil {
		return err
	}
	s.soak = &rep
	return nil
}

// vms runs the VM suite on s's daprd and release controlPlane's sentry
// ("": the pinned one), installing from first and rolling back to it
// ("": the suite's default), and keeps its report. What it runs on was
// prepared (prepare).
func (r runner) vms(ctx context.Context, s *side, controlPlane, from string) error {
	dir := r.vmDir(s)
	rep, err := r.suiteRun(ctx, s, knobs.ProfileOut(dir), append(prepared("vm-e2e"), r.vmKnobs(s, controlPlane, from)...)...)
	if err != nil {
		return err
	}
	s.vms, s.vmsRun = &rep, vmsRun(controlPlane, from)
	return nil
}

// vmsRun says what a VM suite with release controlPlane's sentry, its
// machines upgraded from release from, ran ("": the defaults).
func vmsRun(controlPlane, from string) string {
	return fmt.Sprintf("with %s's sentry, upgrading the machines from %s (sentry, then each daprd) and back, and rolling a fresh install back to it",
		cmp.Or(controlPlane, "the pinned release"), cmp.Or(from, "the release before it"))
}

// vmKnobs are the knobs of s's VM suite: its machines run release
// controlPlane's sentry ("": the pinned one), which make builds from
// that release's module (a path relative to the repository, which its
// rule names).
func (r runner) vmKnobs(s *side, controlPlane, from string) []string {
	knobArgs := []string{knobs.VMOut.Name + "=" + r.vmDir(s), knobs.VMUpgradeFrom.Name + "=" + from}
	if controlPlane != "" {
		knobArgs = append(knobArgs, knobs.Sentry.Name+"="+repo.ReleaseSentry("", controlPlane))
	}
	return knobArgs
}

// vmDir is where s's VM suite writes its report.
func (r runner) vmDir(s *side) string { return filepath.Join(r.out, s.role, "vms") }

// k8s runs the Kubernetes suite on s's daprd with release controlPlane's
// control plane ("": the pinned one), the cluster first on release from,
// upgraded and rolled back ("": no upgrade), and keeps its report. What it
// runs on was prepared (prepare).
func (r runner) k8s(ctx context.Context, s *side, controlPlane, from string) error {
	rep, err := r.suiteRun(ctx, s, r.k8sDir(s), append(prepared("k8s-e2e"), r.k8sKnobs(s, controlPlane, from)...)...)
	if err != nil {
		return err
	}
	s.k8s = &rep
	s.k8sRun = fmt.Sprintf("on %s's control plane, its faults on the %s overlay", cmp.Or(controlPlane, "the pinned release"), verdictFaultOverlays)
	if from != "" {
		s.k8sRun += fmt.Sprintf(", the cluster upgraded under load from %s and rolled back", from)
	}
	return nil
}

// verdictFaultOverlays are the overlays whose faults a verdict runs on
// the cluster: the production overlay's two pods an app. The dev
// overlay's one pod an app makes each fault an outage as long as the
// cluster's DNS remembers the pod (about a minute), which tells of
// Kubernetes more than of Dapr; leaving them to make k8s-e2e takes 4
// minutes off each side.
const verdictFaultOverlays = "production"

// k8sKnobs are the knobs of s's Kubernetes suite.
func (r runner) k8sKnobs(s *side, controlPlane, from string) []string {
	knobArgs := []string{knobs.K8SOut.Name + "=" + r.k8sDir(s), knobs.K8SUpgradeFrom.Name + "=" + from,
		knobs.K8SFaultOverlays.Name + "=" + verdictFaultOverlays}
	if controlPlane != "" {
		knobArgs = append(knobArgs, knobs.K8SDaprVersion.Name+"="+controlPlane)
	}
	return knobArgs
}

// k8sDir is where s's Kubernetes suite writes its report.
func (r runner) k8sDir(s *side) string { return filepath.Join(r.out, s.role, "k8s") }

// latencyRound runs the latency scenarios alone on s, once more.
func (r runner) latencyRound(ctx context.Context, s *side, round int) error {
	if s.daprd == "" {
		return nil
	}
	rep, err := r.e2e(ctx, s, filepath.Join(r.out, s.role, fmt.Sprintf("latency-%d", round+1)), s.backend, latencyTests)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(rep.Scenarios, func(sc report.Scenario) bool { return sc.OneAtATime && len(sc.LatencySamplesMs) > 0 }) {
		return fmt.Errorf("%s: the run in %s has no scenario measured one at a time", s.role, rep.Environment.DaprdPath)
	}
	s.runs.Again = append(s.runs.Again, rep)
	return nil
}

// e2e runs `make e2e` on s's daprd, on backend's servers ("" for
// BACKEND's), writing into dir, and reads the report.
func (r runner) e2e(ctx context.Context, s *side, dir, backend, only string) (report.Report, error) {
	args := []string{"e2e", knobs.E2EOut.Name + "=" + dir, knobs.E2ELogs.Name + "=" + filepath.Join(dir, "logs")}
	if backend != "" {
		args = append(args, knobs.Backend.Name+"="+backend)
	}
	if only != "" {
		args = append(args, knobs.E2ERun.Name+"="+only)
	}
	return r.suiteRun(ctx, s, dir, args...)
}

// suiteRun runs the suite `make args` starts on s's daprd, its report
// going to dir (emptied first: no earlier run's report is read as this
// one's), and reads the report: a suite that failed or did not finish
// still gives one, no report is an error.
func (r runner) suiteRun(ctx context.Context, s *side, dir string, args ...string) (report.Report, error) {
	if err := os.RemoveAll(dir); err != nil {
		return report.Report{}, err
	}
	args = slices.Insert(args, 1, knobs.Daprd.Name+"="+s.daprd)
	fmt.Fprintf(r.log, "rc-check: %s %s: make %s\n", s.role, s.version, strings.Join(args, " "))
	runErr := r.make(ctx, &progressOnly{w: r.log, prefix: fmt.Sprintf("%s %s %s: ", s.role, s.version, args[0])}, args...)
	rep, err := report.Read(filepath.Join(dir, "report.json"))
	if err != nil {
		return rep, fmt.Errorf("%s %s: the suite wrote no report (%v): %w", s.role, s.version, runErr, err)
	}
	switch {
	case rep.Unfinished != "":
		fmt.Fprintf(r.log, "rc-check: %s %s: the suite did not finish (%s); its report says what it measured: %s\n", s.role, s.version, rep.Unfinished, filepath.Join(dir, "report.md"))
	case runErr != nil:
		fmt.Fprintf(r.log, "rc-check: %s %s: the suite failed; its report says what: %s\n", s.role, s.version, filepath.Join(dir, "report.md"))
	}
	return rep, nil
}

// progressOnly passes on the suite's progress lines ("[e2e 01:23] ...")
// after prefix, which says whose suite they are (two may run side by side),
// and drops the rest of its verbose output, which its report holds.
type progressOnly struct {
	w       io.Writer
	prefix  string
	partial []byte // the start of a line whose end has not come yet
}

func (p *progressOnly) Write(b []byte) (int, error) {
	p.partial = append(p.partial, b...)
	for {
		i := bytes.IndexByte(p.partial, '\n')
		if i < 0 {
			return len(b), nil
		}
		line := p.partial[:i+1]
		if bytes.HasPrefix(line, []byte("[e2e ")) {
			if _, err := p.w.Write(append([]byte(p.prefix), line...)); err != nil {
				return 0, err
			}
		}
		p.partial = p.partial[i+1:]
	}
}

// make runs make in the repository; its output goes to stdout (nil: the
// log) and its errors to the log.
func (r runner) make(ctx context.Context, stdout io.Writer, args ...string) error {
	cmd := exec.CommandContext(ctx, "make", append([]string{"--no-print-directory", "-C", r.root}, args...)...)
	cmd.Stdout, cmd.Stderr = r.log, r.log
	if stdout != nil {
		cmd.Stdout = stdout
	}
	return cmd.Run()
}
