package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/daprshop/daprshop/tests/compare"
	"github.com/daprshop/daprshop/tests/report"
)

func TestDefaultBase(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "tools", "daprd"), 0o755); err != nil {
		t.Fatal(err)
	}
	releases := "# oldest first\nv1.16.5\nv1.17.5 # with a comment\n\nv1.18.2\n"
	if err := os.WriteFile(filepath.Join(root, "tools", "daprd", "releases"), []byte(releases), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runner{root: root}
	for _, tc := range []struct {
		candidate, want string
	}{
		{"v1.19.0-rc.1", "v1.18.2"},
		{"v1.18.3", "v1.18.2"},
		{"v1.18.2", "v1.17.5"},
		{"v1.18.2-rc.4", "v1.17.5"}, // a release candidate comes before its release
		{"v1.17.0", "v1.16.5"},
		{"v1.16.5", ""},
		{"edge", ""},
	} {
		got, err := r.defaultBase(tc.candidate)
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("defaultBase(%s) = %q, %v; want %q", tc.candidate, got, err, tc.want)
		}
	}
}

func TestProgressOnly(t *testing.T) {
	var got strings.Builder
	p := &progressOnly{w: &got, prefix: "base v1.18.2 k8s-e2e: "}
	for _, chunk := range []string{"=== RUN   TestHappyPath\n[e2e 00", ":01] happy path: started\n    log line\n", "[e2e 00:02] happy path: done\n"} {
		if _, err := p.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	if want := "base v1.18.2 k8s-e2e: [e2e 00:01] happy path: started\nbase v1.18.2 k8s-e2e: [e2e 00:02] happy path: done\n"; got.String() != want {
		t.Errorf("passed on %q, want %q", got.String(), want)
	}
}

// TestMethodSaysWhatRan: the comparison calls the latency rounds
// interleaved only when both sides ran them.
func TestMethodSaysWhatRan(t *testing.T) {
	report := &side{version: "v1.18.2"}
	run := func(v string) *side { return &side{version: v, daprd: "/bin/daprd-" + v} }
	for _, tc := range []struct {
		name       string
		base, cand *side
		want       string
	}{
		{"both run", run("v1.18.2"), run("v1.18.3"),
			"Runs: v1.18.2 ran the whole suite and the adapters' contracts once, then a 3000-order soak alone, then the latency scenarios again 5 times; v1.18.3 ran the whole suite and the adapters' contracts once, then a 3000-order soak alone, then the latency scenarios again 5 times. The latency rounds alternated between the sides, which went first in turn."},
		{"base a report", report, run("v1.18.3"),
			"Runs: v1.18.2 is its report, one run of each scenario; v1.18.3 ran the whole suite and the adapters' contracts once, then a 3000-order soak alone, then the latency scenarios again 5 times."},
	} {
		if got := method(tc.base, tc.cand, true, 5); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
	want := "Runs: v1.18.2 ran the latency scenarios 3 times; v1.18.3 ran the latency scenarios 3 times. The latency rounds alternated between the sides, which went first in turn."
	if got := method(run("v1.18.2"), run("v1.18.3"), false, 3); got != want {
		t.Errorf("without the suite:\n got %q\nwant %q", got, want)
	}
	if got := method(run("v1.18.2"), run("v1.18.3"), true, 1); !strings.Contains(got, "soak alone, then the latency scenarios again once;") {
		t.Errorf("one round: got %q", got)
	}
}

// TestSoaksJudgedAgainstEachOther: a soak's own invariant failing on one
// side only is shown, not a regression; its CPU per request rising is.
func TestSoaksJudgedAgainstEachOther(t *testing.T) {
	soak := func(flat bool, cpu float64) report.Report {
		return report.Report{Scenarios: []report.Scenario{{Name: "soak: 3000 orders at 50 a second", Requests: 3000, Throughput: 49, OpenLoop: true,
			Invariants: []report.Invariant{{Name: "flat: p50 of an answer", Passed: flat, Observed: "1.57×"}},
			Resources:  []report.Resource{{Process: "daprd-order", CPUSeconds: cpu, RSSMB: 100}}}}}
	}
	if got := compareSoaks(soak(true, 10), soak(false, 10)); got.Regressed || !strings.Contains(compare.Markdown(got), "0 of 1 held; flat: p50 of an answer: 1.57×") {
		t.Errorf("a soak's own invariant failing: regressed %v, want shown only:\n%s", got.Regressed, compare.Markdown(got))
	}
	if got := compareSoaks(soak(true, 10), soak(true, 15)); !got.Regressed {
		t.Errorf("CPU per request 1.5 times: not a regression:\n%s", compare.Markdown(got))
	}
}

func TestParsePlatforms(t *testing.T) {
	for _, tc := range []struct {
		list    string
		wantVMs bool
		wantErr string
	}{
		{"selfhosted", false, ""},
		{"selfhosted vms", true, ""},
		{"  vms   selfhosted ", true, ""},
		{"vms", false, "selfhosted is always judged"},
		{"selfhosted vms k8s", true, ""},
		{"selfhosted postgres-rabbitmq", false, ""},
		{"selfhosted postgres", false, `unknown platform "postgres"`},
		{"selfhosted kubernetes", false, `unknown platform "kubernetes"`},
		{"", false, "selfhosted is always judged"},
	} {
		got, err := parsePlatforms(tc.list)
		switch {
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("parsePlatforms(%q): error %v, want one saying %q", tc.list, err, tc.wantErr)
		case tc.wantErr == "" && err != nil:
			t.Errorf("parsePlatforms(%q): %v", tc.list, err)
		case tc.wantErr == "" && got[platformVMs] != tc.wantVMs:
			t.Errorf("parsePlatforms(%q): vms %v, want %v", tc.list, got[platformVMs], tc.wantVMs)
		}
	}
}

// TestVMsUpgradeFromTheBaseline: both sides' machines start from the
// baseline's release when it is one, so the candidate's upgrade and
// rollback are the ones an operator would do.
func TestVMsUpgradeFromTheBaseline(t *testing.T) {
	for version, want := range map[string]string{"v1.17.5": "v1.17.5", "v1.19.0-rc.1": "", "edge": "", "v": ""} {
		if got := upgradeFrom(&side{version: version}); got != want {
			t.Errorf("upgradeFrom(a baseline at %q) = %q, want %q", version, got, want)
		}
	}
}

// TestVMRunsJudgedAgainstEachOther: an invariant of the VM suite that held
// on the baseline and fails on the candidate is a regression, named with
// its scenario; a VM suite cut short is one too.
func TestVMRunsJudgedAgainstEachOther(t *testing.T) {
	vms := func(rolledBack bool, unfinished string) report.Report {
		return report.Report{Unfinished: unfinished, Scenarios: []report.Scenario{{Name: "vms: daprd upgraded from v1.17.5 with install.sh, then rolled back, nothing lost",
			Invariants: []report.Invariant{{Name: "the sidecar of order runs v1.17.5 again", Passed: rolledBack, Observed: "1.18.2"}}}}}
	}
	if got := comparePlatform(vms(true, ""), vms(true, "")); got.Regressed || !strings.Contains(compare.Markdown(got), "| invariants | 1 of 1 held | 1 of 1 held |") {
		t.Errorf("the same VM run on both sides: regressed %v, want not, and what it checked shown:\n%s", got.Regressed, compare.Markdown(got))
	}
	got := comparePlatform(vms(true, ""), vms(false, ""))
	if md := compare.Markdown(got); !got.Regressed || !strings.Contains(md, "invariant the sidecar of order runs v1.17.5 again") {
		t.Errorf("a rollback that failed on the candidate only: regressed %v, want it named:\n%s", got.Regressed, md)
	}
	got = comparePlatform(vms(true, ""), vms(true, "stopped by the suite's time limit"))
	if md := compare.Markdown(got); !got.Regressed || !strings.Contains(md, "the whole suite · finished: yes → NO: stopped by the suite's time limit") {
		t.Errorf("a VM suite cut short on the candidate: regressed %v, want it said:\n%s", got.Regressed, md)
	}
}

// TestSecondProfileJudgedInItsOwnSection: the contracts or an invariant
// failing on PostgreSQL and RabbitMQ on the candidate only is a regression
// of that section, named; the same runs on both sides are none.
func TestSecondProfileJudgedInItsOwnSection(t *testing.T) {
	onPostgres := func(contracts string, held bool) *side {
		return &side{postgresContracts: contracts, postgres: &report.Report{Scenarios: []report.Scenario{{Name: "transactional outbox",
			Invariants: []report.Invariant{{Name: "a rolled-back transaction publishes nothing", Passed: held, Observed: "1 event"}}}}}}
	}
	section := func(base, cand *side) (compare.Result, string) {
		var res compare.Result
		res.AddPlatform(postgresPlatform, compareOnPostgres(base, cand))
		return res, compare.Markdown(res)
	}
	if got, md := section(onPostgres(contractsPassed, true), onPostgres(contractsPassed, true)); got.Regressed || !strings.Contains(md, postgresPlatform) {
		t.Errorf("the same on both sides: regressed %v, want not, in its own section:\n%s", got.Regressed, md)
	}
	if got, md := section(onPostgres(contractsPassed, true), onPostgres("NO: see contracts-postgres-rabbitmq.log", true)); !got.Regressed || !strings.Contains(md, "contracts-postgres-rabbitmq.log") {
		t.Errorf("contracts failing on the candidate: regressed %v, want it said:\n%s", got.Regressed, md)
	}
	if got, md := section(onPostgres(contractsPassed, true), onPostgres(contractsPassed, false)); !got.Regressed || !strings.Contains(md, "a rolled-back transaction publishes nothing") {
		t.Errorf("an invariant failing on the candidate: regressed %v, want it named:\n%s", got.Regressed, md)
	}
}

func TestMethodSaysWhereTheMachinesStarted(t *testing.T) {
	vmRun := func(v, from string) *side {
		return &side{version: v, daprd: "/bin/daprd-" + v, vms: &report.Report{}, vmsRun: vmsRun(v, from)}
	}
	got := method(vmRun("v1.17.5", "v1.17.5"), vmRun("v1.18.2", "v1.17.5"), true, 0)
	if !strings.Contains(got, "v1.18.2 ran the whole suite and the adapters' contracts once, then the VM suite (make vm-e2e) once, with v1.18.2's sentry, "+
		"upgrading the machines from v1.17.5 (sentry, then each daprd) and back, and rolling a fresh install back to it, then a 3000-order soak alone") {
		t.Errorf("method: got %q", got)
	}
	onCluster := vmRun("v1.18.2", "v1.17.5")
	onCluster.k8s, onCluster.k8sRun = &report.Report{}, "on v1.18.2's control plane, the cluster upgraded under load from v1.17.5 and rolled back"
	if got := method(vmRun("v1.17.5", "v1.17.5"), onCluster, true, 0); !strings.Contains(got, "back to it, with the Kubernetes suite (make k8s-e2e) once beside them, on v1.18.2's control plane, the cluster upgraded under load from v1.17.5 and rolled back, then a 3000-order soak alone") {
		t.Errorf("method with a cluster: got %q", got)
	}
	if got := method(vmRun("v1.17.5", ""), vmRun("", ""), true, 0); !strings.Contains(got, "with the pinned release's sentry, upgrading the machines from the release before it") {
		t.Errorf("method without a release to start from: got %q", got)
	}
}

// TestControlPlaneOfEachSide: a side given as a release runs that
// release's control plane on the cluster; a daprd binary joins the
// baseline release's, as it would in a cluster being upgraded.
func TestControlPlaneOfEachSide(t *testing.T) {
	release, binary := &side{release: "v1.18.2"}, &side{daprd: "/tmp/daprd"}
	for _, tc := range []struct {
		name    string
		s, base *side
		want    string
	}{
		{"a release", release, &side{version: "v1.17.5"}, "v1.18.2"},
		{"a binary, against a release", binary, &side{version: "v1.17.5"}, "v1.17.5"},
		{"a binary, against a prerelease", binary, &side{version: "v1.19.0-rc.1"}, ""},
	} {
		if got := controlPlane(tc.s, tc.base); got != tc.want {
			t.Errorf("%s: controlPlane = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestVMKnobsNameTheSidesSentry: a side's VM suite runs its release's
// sentry, named relative to the repository as make's rule for it is (an
// absolute path would not match it, and make would not build it).
func TestVMKnobsNameTheSidesSentry(t *testing.T) {
	r := runner{root: "/repo", out: "/repo/out/rc-check"}
	s := &side{role: "candidate"}
	if got := r.vmKnobs(s, "v1.18.2", "v1.17.5"); !slices.Contains(got, "SENTRY=out/dapr/v1.18.2/sentry/sentry") {
		t.Errorf("vmKnobs with a release: %q, want SENTRY=out/dapr/v1.18.2/sentry/sentry", got)
	}
	if got := r.vmKnobs(s, "", "v1.17.5"); slices.ContainsFunc(got, func(k string) bool { return strings.HasPrefix(k, "SENTRY=") }) {
		t.Errorf("vmKnobs without a release: %q, want no SENTRY (the pinned one)", got)
	}
}
