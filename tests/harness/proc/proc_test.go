package proc

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestFreePortNeverRepeats(t *testing.T) {
	seen := map[int]bool{}
	for range 500 {
		p := FreePort(t)
		if seen[p] {
			t.Fatalf("port %d returned twice", p)
		}
		if p < firstPort || p > lastPort {
			t.Fatalf("port %d outside %d-%d", p, firstPort, lastPort)
		}
		seen[p] = true
	}
}

func TestUsageReadsCPUAndMemory(t *testing.T) {
	p := Start(t, Spec{Name: "busy", Path: "/bin/sh", Args: []string{"-c", "trap 'exit 0' INT; while :; do :; done"}, LogDir: t.TempDir()})
	if u := awaitUsage(t, p, func(u Usage) bool { return u.CPUSeconds > 0 && u.RSSBytes > 0 }); u.CPUSeconds == 0 || u.RSSBytes == 0 {
		t.Fatalf("a busy loop used %+v after 5s, want CPU time and memory", u)
	}
	p.Stop()
	if _, err := p.Usage(); !errors.Is(err, ErrExited) {
		t.Errorf("Usage of a stopped process: got %v, want ErrExited", err)
	}
}

// TestUsageCountsTheWorkersAProcessStarted has a parent that only waits
// while its child spins, as PostgreSQL's postmaster does while its
// backends work: the parent's usage is the child's CPU time.
func TestUsageCountsTheWorkersAProcessStarted(t *testing.T) {
	p := Start(t, Spec{Name: "waiting-parent", Path: "/bin/sh", LogDir: t.TempDir(),
		Args: []string{"-c", "sh -c 'while :; do :; done' & child=$!; trap 'kill $child; exit 0' INT; wait"}})
	if u := awaitUsage(t, p, func(u Usage) bool { return u.CPUSeconds >= 0.5 }); u.CPUSeconds < 0.5 {
		t.Fatalf("a parent whose child spins used %+v after 5s, want its child's CPU time", u)
	}
}

// awaitUsage waits up to 5 s for p's usage to be enough, and returns the
// last it read.
func awaitUsage(t *testing.T, p *Process, enough func(Usage) bool) Usage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	u, err := Await(ctx, func(context.Context) (Usage, bool) {
		u, err := p.Usage()
		if err != nil {
			t.Fatal(err)
		}
		return u, enough(u)
	})
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal(err)
	}
	return u
}

func TestWaitUntil(t *testing.T) {
	t.Run("ready", func(t *testing.T) {
		calls := 0
		err := WaitUntil(context.Background(), func(context.Context) error {
			if calls++; calls < 3 {
				return errors.New("not yet")
			}
			return nil
		})
		if err != nil || calls != 3 {
			t.Errorf("got %v after %d calls, want nil after 3", err, calls)
		}
	})
	t.Run("deadline says the last error", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*PollInterval)
		defer cancel()
		err := WaitUntil(ctx, func(context.Context) error { return errors.New("port 1 refused") })
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "port 1 refused") {
			t.Errorf("got %v, want the deadline and the last error", err)
		}
	})
	t.Run("a call cut short by the deadline does not hide the last answer", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*PollInterval)
		defer cancel()
		err := WaitUntil(ctx, func(ctx context.Context) error {
			select {
			case <-ctx.Done(): // a call still running when the deadline came
				return ctx.Err()
			case <-time.After(PollInterval / 2):
				return errors.New("2 messages held")
			}
		})
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "last: 2 messages held") {
			t.Errorf("got %v, want the deadline and the last answer given before it", err)
		}
	})
	t.Run("a process that exits ends the wait", func(t *testing.T) {
		// Launched, not Started: its exit of its own is what this tests,
		// not a failure to report at the end.
		p, err := Launch(Spec{Name: "quitter", Path: "/bin/sh", Args: []string{"-c", "echo bye; exit 3"}, LogDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		err = WaitUntil(context.Background(), func(context.Context) error { return errors.New("never") }, p)
		if !errors.Is(err, ErrExited) || !strings.Contains(err.Error(), "quitter") || !strings.Contains(err.Error(), "bye") {
			t.Errorf("got %v, want ErrExited naming quitter with its log", err)
		}
	})
}

// TestShutdownTakesTheStopSignal: a process is stopped with its spec's
// signal; dying of it is clean only for a process that ends so
// (EndsByStopSignal), and a failure otherwise.
func TestShutdownTakesTheStopSignal(t *testing.T) {
	for _, tc := range []struct {
		name    string
		spec    Spec
		wantErr bool
	}{
		{"handles SIGINT", Spec{Args: []string{"-c", "trap 'exit 0' INT; while :; do sleep 0.05; done"}}, false},
		{"handles the SIGTERM it is stopped with", Spec{Args: []string{"-c", "trap 'exit 0' TERM; while :; do sleep 0.05; done"}, StopSignal: syscall.SIGTERM}, false},
		{"dies of SIGTERM", Spec{Args: []string{"-c", "while :; do sleep 0.05; done"}, StopSignal: syscall.SIGTERM}, true},
		{"ends by SIGTERM, as it should", Spec{Args: []string{"-c", "while :; do sleep 0.05; done"}, StopSignal: syscall.SIGTERM, EndsByStopSignal: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.spec.Name, tc.spec.Path, tc.spec.LogDir = "sh", "/bin/sh", t.TempDir()
			p, err := Launch(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond) // the trap set
			if err := p.Shutdown(); (err != nil) != tc.wantErr {
				t.Errorf("Shutdown: got %v, want an error %v", err, tc.wantErr)
			}
		})
	}
}

// TestShutdownReportsAnExitOfItsOwn: a process that crashed before the
// test stopped it is a failure, one that ended well or that the test killed
// is not.
func TestShutdownReportsAnExitOfItsOwn(t *testing.T) {
	for _, tc := range []struct {
		name    string
		script  string
		kill    bool
		wantErr bool
	}{
		{"crashed", "exit 2", false, true},
		{"ended well", "exit 0", false, false},
		{"killed by the test", "while :; do sleep 0.05; done", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Launch(Spec{Name: "sh", Path: "/bin/sh", Args: []string{"-c", tc.script}, LogDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			if tc.kill {
				p.Kill()
			}
			<-p.Exited()
			if err := p.Shutdown(); (err != nil) != tc.wantErr {
				t.Errorf("Shutdown: got %v, want an error %v", err, tc.wantErr)
			}
			if err := p.Shutdown(); err != nil {
				t.Errorf("Shutdown again: got %v, want nil: the exit was reported once", err)
			}
		})
	}
}

func TestAwaitReturnsTheLastObservation(t *testing.T) {
	calls := 0
	got, err := Await(context.Background(), func(context.Context) (int, bool) {
		calls++
		return calls, calls == 3
	})
	if err != nil || got != 3 {
		t.Errorf("Await until the third call: got %d, %v; want 3, nil", got, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*PollInterval/2)
	defer cancel()
	missing, err := Await(ctx, func(context.Context) ([]string, bool) { return []string{"still missing"}, false })
	if !errors.Is(err, context.DeadlineExceeded) || len(missing) != 1 {
		t.Errorf("Await that never ends: got %q, %v; want what it last saw, and the deadline", missing, err)
	}
}
