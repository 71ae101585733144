// Command rc-check gives a verdict on a candidate daprd against a baseline:
// it runs the e2e suite on both, then the invocation-latency scenario on
// each, interleaved, round after round, and writes the comparison
// (compare.json, compare.md, compare.html) into -out:
//
//	rc-check -candidate /path/to/daprd -base v1.18.2 -out out/rc-check
//
// Each side is a Dapr version (built by `make daprd DAPR_VERSION=...`), a
// daprd binary, or the report.json of an earlier run (used as it is: no
// run, and its one run of latencies). Without -base, the baseline is the
// newest release in tools/daprd/releases before the candidate's version.
// It runs the suite through `make e2e`, as a user would. It exits 1 when
// the candidate regressed, 2 when it cannot tell.
//
// With -matrix it runs the suite on each of several sides instead (default:
// every release in tools/daprd/releases), oldest first, and writes them
// side by side (matrix.json, matrix.md, matrix.html), each compared with
// the one before it.
package main

import (
	"bufio"
	"bytes"
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

// latencyScenario is the suite's scenario whose requests are compared run
// by run (tests/e2e: TestInvocationLatency).
const (
	latencyTest     = "TestInvocationLatency"
	latencyScenario = "service invocation latency"
)

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
	rounds := fs.Int("rounds", 5, "interleaved runs of the latency scenario on each side, after the suite's own")
	withSuite := fs.Bool("suite", true, "run the whole suite on each side first; false: the latency runs alone")
	matrix := fs.String("matrix", "", "space-separated sides to run the suite on and set side by side, oldest first; \"releases\": tools/daprd/releases")
	out := fs.String("out", "out/rc-check", "directory for the reports and the comparison (relative to the repository)")
	if err := fs.Parse(args); err != nil {
		return false, err
	}
	if *matrix != "" {
		return false, runMatrix(ctx, *matrix, *out, stdout, stderr)
	}
	if *candArg == "" {
		return false, errors.New("-candidate is required")
	}
	if *rounds < 0 || *rounds == 0 && !*withSuite {
		return false, fmt.Errorf("-rounds %d with -suite=%v: nothing would run", *rounds, *withSuite)
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

	// The whole suite on each side, then the latency scenario again,
	// alternating which side goes first, so that whatever drifts on the
	// machine meanwhile lands on both.
	if *withSuite {
		for _, s := range sides {
			if err := r.suite(ctx, s); err != nil {
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

	res := compare.Compare(base.report, cand.report, compare.DefaultThresholds)
	res.AddLatency(compare.CompareLatency(latencyScenario, base.latencies, cand.latencies, compare.DefaultLatencyThresholds))
	if err := compare.Write(r.out, res, base.report, cand.report); err != nil {
		return false, err
	}
	fmt.Fprint(stdout, compare.Markdown(res))
	fmt.Fprintf(stderr, "rc-check: %s\n", filepath.Join(r.out, "compare.md"))
	return res.Regressed, nil
}

// side is the baseline or the candidate.
type side struct {
	role    string // "base" or "candidate": the directory its runs go to
	daprd   string // empty for a side given as a report
	version string
	report  report.Report
	// latencies are the latency scenario's requests, one slice per run.
	latencies [][]float64
}

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
func runMatrix(ctx context.Context, sides, out string, stdout, stderr io.Writer) error {
	r, err := newRunner(out, stderr)
	if err != nil {
		return err
	}
	args := strings.Fields(sides)
	if sides == "releases" {
		if args, err = readReleases(filepath.Join(r.root, "tools", "daprd", "releases")); err != nil {
			return err
		}
	}
	var reports []report.Report
	for i, arg := range args {
		s, err := r.resolve(ctx, fmt.Sprintf("%d-%s", i+1, strings.TrimPrefix(filepath.Base(arg), "v")), arg)
		if err != nil {
			return err
		}
		if err := r.suite(ctx, s); err != nil {
			return err
		}
		reports = append(reports, s.report)
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
		s.report, s.version = rep, "v"+strings.TrimPrefix(rep.Environment.DaprdVersion, "v")
		s.addLatencies(rep)
		return s, nil
	case semver.IsValid(arg) && !strings.Contains(arg, "/"):
		// DAPRD= on the command line: a DAPRD in the environment would
		// have make check that binary instead of building this version.
		if err := r.make(ctx, nil, "daprd", "DAPR_VERSION="+arg, "DAPRD="); err != nil {
			return nil, fmt.Errorf("%s: build daprd %s: %w", role, arg, err)
		}
		s.daprd = filepath.Join(r.root, "out", "dapr", arg, ".dapr", "bin", "daprd")
	default:
		s.daprd = r.abs(arg)
	}
	out, err := exec.CommandContext(ctx, s.daprd, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %s --version: %w", role, arg, s.daprd, err)
	}
	s.version = "v" + strings.TrimPrefix(strings.TrimSpace(string(out)), "v")
	// What the comparison calls this side, until a suite's report says more.
	s.report.Environment = report.Environment{DaprdVersion: strings.TrimPrefix(s.version, "v"), DaprdPath: s.daprd}
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
	releases, err := readReleases(filepath.Join(r.root, "tools", "daprd", "releases"))
	if err != nil {
		return "", err
	}
	if !semver.IsValid(version) {
		return "", fmt.Errorf("the candidate's version %q is not a semantic version: name the baseline with -base", version)
	}
	var best string
	for _, v := range releases {
		if semver.Compare(v, version) < 0 && (best == "" || semver.Compare(v, best) > 0) {
			best = v
		}
	}
	if best == "" {
		return "", fmt.Errorf("no release in tools/daprd/releases is older than %s: name the baseline with -base", version)
	}
	return best, nil
}

// readReleases reads the versions of the releases file, one a line, with
// # comments.
func readReleases(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		if !semver.IsValid(line) {
			return nil, fmt.Errorf("%s: %q is not a version", path, line)
		}
		out = append(out, line)
	}
	return out, sc.Err()
}

// suite runs the whole e2e suite on s: a failing suite still gives a report
// to compare, but no report is an error.
func (r runner) suite(ctx context.Context, s *side) error {
	if s.daprd == "" {
		return nil
	}
	dir := filepath.Join(r.out, s.role, "suite")
	rep, err := r.e2e(ctx, s, dir, "")
	if err != nil {
		return err
	}
	s.report = rep
	s.addLatencies(rep)
	return nil
}

// latencyRound runs the latency scenario alone on s, once more.
func (r runner) latencyRound(ctx context.Context, s *side, round int) error {
	if s.daprd == "" {
		return nil
	}
	rep, err := r.e2e(ctx, s, filepath.Join(r.out, s.role, fmt.Sprintf("latency-%d", round+1)), "^"+latencyTest+"$")
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(rep.Scenarios, func(sc report.Scenario) bool { return sc.Name == latencyScenario && sc.LatencySamplesMs != nil }) {
		return fmt.Errorf("%s: the run in %s has no %q scenario with its latencies", s.role, rep.Environment.DaprdPath, latencyScenario)
	}
	s.addLatencies(rep)
	return nil
}

func (s *side) addLatencies(rep report.Report) {
	for _, sc := range rep.Scenarios {
		if sc.Name == latencyScenario && len(sc.LatencySamplesMs) > 0 {
			s.latencies = append(s.latencies, sc.LatencySamplesMs)
		}
	}
}

// e2e runs `make e2e` on s's daprd, writing into dir, and reads the report.
func (r runner) e2e(ctx context.Context, s *side, dir, only string) (report.Report, error) {
	if err := os.RemoveAll(dir); err != nil {
		return report.Report{}, err
	}
	args := []string{"e2e", knobs.Daprd.Name + "=" + s.daprd, knobs.E2EOut.Name + "=" + dir, knobs.E2ELogs.Name + "=" + filepath.Join(dir, "logs")}
	if only != "" {
		args = append(args, knobs.E2ERun.Name+"="+only)
	}
	fmt.Fprintf(r.log, "rc-check: %s %s: make %s\n", s.role, s.version, strings.Join(args, " "))
	runErr := r.make(ctx, &progressOnly{w: r.log}, args...)
	rep, err := report.Read(filepath.Join(dir, "report.json"))
	if err != nil {
		return rep, fmt.Errorf("%s %s: the suite wrote no report (%v): %w", s.role, s.version, runErr, err)
	}
	if runErr != nil {
		fmt.Fprintf(r.log, "rc-check: %s %s: the suite failed; its report says what: %s\n", s.role, s.version, filepath.Join(dir, "report.md"))
	}
	return rep, nil
}

// progressOnly passes on the suite's progress lines ("[e2e 01:23] ...") and
// drops the rest of its verbose output, which its report holds.
type progressOnly struct {
	w       io.Writer
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
			if _, err := p.w.Write(line); err != nil {
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
