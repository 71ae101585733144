// Package system starts the whole of daprshop for a test, on real parts:
// the servers of a backend profile (Redis, or PostgreSQL and RabbitMQ),
// NATS, and each app with its own daprd sidecar, as described by the
// multi-app run file. Every process listens on a free loopback port and is
// stopped by PID when the test ends.
package system

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/daprshop/daprshop/internal/auth/authtest"
	"github.com/daprshop/daprshop/internal/config"
	"github.com/daprshop/daprshop/tests/harness/proc"
	"github.com/daprshop/daprshop/tests/harness/repo"
)

// ReadyTimeout bounds how long the system may take to become ready.
const ReadyTimeout = 90 * time.Second

// Options change how the system is started; the zero value starts it as the
// run file describes.
type Options struct {
	// ResourcesPath, when set, replaces the run file's resources for every
	// sidecar.
	ResourcesPath string
	// SeparatePubSubRedis puts pub/sub on a Redis of its own, so that a test
	// can stop it while the state store stays up (the Redis profile).
	SeparatePubSubRedis bool
	// TraceEndpoint, when set, is the OTLP/gRPC address (host:port) the
	// sidecars (through their Configuration) and the apps send spans to.
	// Unset, the sidecars run with the Configuration's tracing removed.
	TraceEndpoint string
	// SidecarTracingOff removes tracing from the sidecars' Configuration
	// even with a TraceEndpoint: the apps still send their spans.
	SidecarTracingOff bool
	// AppEnv is set in every app's environment, over the run file's.
	AppEnv map[string]string
	// KnownShutdownIssue names a Dapr bug by which the test's fault can
	// keep order's sidecar from shutting down in its grace period, beside
	// the profile's own (Profile.KnownShutdownIssue).
	KnownShutdownIssue string

	// withoutApp starts a sidecar with no app channel (StartSidecarAlone).
	withoutApp bool
	// internalGRPCPort, when set, is the sidecar's internal gRPC port
	// (StartDaprd).
	internalGRPCPort int
}

// System is a running daprshop.
type System struct {
	// Profile is the backend profile it runs on (knobs.Backend), and
	// Servers what that profile started: Servers.Store reads what the
	// sidecars stored.
	Profile Profile
	Servers
	NATS *NATS
	// Issuer signs the tokens the apps accept: every client's.
	Issuer *authtest.Issuer
	Apps   map[string]*App
	// started holds every process in the order it started.
	started []*proc.Process
}

// App is one app and its sidecar.
type App struct {
	ID string
	// URL is the app's own HTTP API, e.g. http://127.0.0.1:41234.
	URL string
	// DaprURL is the sidecar's HTTP API.
	DaprURL string
	// DaprGRPCAddr is the sidecar's gRPC API, which the Go SDK uses.
	DaprGRPCAddr string
	// APIToken is what the sidecar requires on its APIs (header
	// dapr-api-token; DAPR_API_TOKEN); AppToken what it presents to the
	// app (APP_API_TOKEN). Each sidecar has its own, as in production.
	APIToken, AppToken string
	// MetricsURL is the sidecar's Prometheus endpoint.
	MetricsURL string
	// ProfilerURL is the app's Go profiler (net/http/pprof).
	ProfilerURL string
	Proc        *proc.Process
	Daprd       *proc.Process
	env         []string
}

// Start starts the servers of the backend profile knobs.Backend selects,
// NATS, and every app of the run file with its sidecar, and waits until all
// are ready.
func Start(t testing.TB, opts Options) *System {
	t.Helper()
	env := LoadEnv(t)
	apps := env.Apps(t)
	logDir := env.LogDir(t)
	profile := selectedProfile(t)
	if opts.ResourcesPath == "" {
		opts.ResourcesPath = resources(t, env, profile)
	}

	s := &System{Profile: profile, Apps: map[string]*App{}}
	s.Servers = profile.Start(t, logDir, opts)
	s.NATS = StartNATS(t, logDir, NewNATSAuth(t, env.BinDir))
	s.Issuer = authtest.Start(t, "127.0.0.1:0")

	for i, a := range apps {
		s.Apps[a.AppID] = startApp(t, env, a, opts, logDir, s)
		if i == 0 && profile.FirstStartRace != "" {
			// The first sidecar creates what the others would race to.
			ctx, cancel := context.WithTimeout(context.Background(), ReadyTimeout)
			err := WaitHTTP(ctx, s.Apps[a.AppID].DaprURL+"/v1.0/healthz/outbound", http.StatusNoContent, s.Apps[a.AppID].Daprd)
			cancel()
			if err != nil {
				t.Fatalf("sidecar of %s, started first (%s): %v", a.AppID, profile.FirstStartRace, err)
			}
		}
	}
	for _, server := range s.Procs {
		s.started = append(s.started, server.Proc)
	}
	s.started = append(s.started, s.NATS.Proc)
	for _, a := range apps {
		s.started = append(s.started, s.Apps[a.AppID].Daprd, s.Apps[a.AppID].Proc)
	}
	s.waitReady(t)
	return s
}

// Stop stops every process, each app before its sidecar and the sidecars
// before the servers they use (the reverse of their start), and says what
// went wrong: each process that did not exit cleanly on SIGINT, with the
// fatal error it logged, if any.
func (s *System) Stop() []string {
	var failures []string
	for _, p := range slices.Backward(s.started) {
		if err := shutdown(p); err != nil {
			failures = append(failures, err.Error())
		}
	}
	return failures
}

// shutdown stops p (proc.Process.Shutdown) and says what went wrong, with
// the fatal error it logged, if any.
func shutdown(p *proc.Process) error {
	err := p.Shutdown()
	if err == nil {
		return nil
	}
	if fatal := FatalMessage(p.Log()); fatal != "" {
		err = fmt.Errorf("%w: it logged %q", err, fatal)
	} else if panicked := PanicMessage(p.Log()); panicked != "" {
		err = fmt.Errorf("%w: %s", err, panicked)
	}
	return err
}

// PanicMessage is the last Go panic a process's log holds, as "panic: ...
// in function" (the function that panicked, the first frame of the
// goroutine that did), or "".
func PanicMessage(log string) string {
	data, err := os.ReadFile(log)
	if err != nil {
		return ""
	}
	var msg string
	lines := strings.Split(string(data), "\n")
	for i, line := range lines {
		if !strings.HasPrefix(line, "panic: ") {
			continue
		}
		msg = line
		for j := i + 1; j+1 < len(lines); j++ {
			if strings.HasPrefix(lines[j], "goroutine ") {
				frame := lines[j+1] // function(arguments)
				if k := strings.LastIndexByte(frame, '('); k > 0 {
					frame = frame[:k]
				}
				msg += " in " + frame
				break
			}
		}
	}
	return msg
}

// FatalMessage is the message of the last fatal record in a daprd's JSON
// log (e.g. "Graceful shutdown timeout exceeded, forcing shutdown"), or "".
func FatalMessage(log string) string {
	data, err := os.ReadFile(log)
	if err != nil {
		return ""
	}
	msg := ""
	for line := range strings.Lines(string(data)) {
		var rec struct{ Level, Msg string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Level == "fatal" {
			msg = rec.Msg
		}
	}
	return msg
}

// DaprdGracefulShutdownSeconds is how long a sidecar may take to shut down
// (daprd's default is 5). The outbox may be looking for a transaction for up
// to about 11 s when the sidecar is told to stop, and stopping it midway
// fails the shutdown. deploy/selfhosted/run.sh uses the same value.
const DaprdGracefulShutdownSeconds = 15

// Usage reads what every running process of the system has used so far,
// by process name ("daprd-order", "redis", ...); a process that exited (a
// fault test stopped it) is left out.
func (s *System) Usage() map[string]proc.Usage {
	procs := map[string]*proc.Process{"nats": s.NATS.Proc}
	for _, server := range s.Procs {
		procs[server.Proc.Name()] = server.Proc
	}
	for id, a := range s.Apps {
		procs[id] = a.Proc
		procs["daprd-"+id] = a.Daprd
	}
	out := make(map[string]proc.Usage, len(procs))
	for name, p := range procs {
		if u, err := p.Usage(); err == nil {
			out[name] = u
		}
	}
	return out
}

// App returns the app with id, failing the test if there is none.
func (s *System) App(t testing.TB, id string) *App {
	t.Helper()
	a, ok := s.Apps[id]
	if !ok {
		t.Fatalf("no app %q in the run file", id)
	}
	return a
}

func startApp(t testing.TB, env Env, a repo.RunApp, opts Options, logDir string, s *System) *App {
	t.Helper()
	app := StartSidecar(t, env, a, opts, logDir, Backends{Components: s.Env, NATS: s.NATS.URL, Issuer: s.Issuer.URL, NATSAuth: s.NATS.Auth})
	app.Proc = proc.Start(t, proc.Spec{
		Name:   a.AppID,
		Path:   env.Service(t, filepath.Base(a.Command[0])),
		Args:   a.Command[1:],
		Env:    app.env,
		LogDir: logDir,
	})
	return app
}

// Backends are the addresses of the servers a sidecar and its app use:
// Components is what the sidecar's component files read (Servers.Env),
// Issuer is the URL of the issuer whose tokens the apps accept ("": the
// apps authenticate nobody), NATSAuth what NATS authenticates its clients
// against (nil: nothing).
type Backends struct {
	Components   map[string]string
	NATS, Issuer string
	NATSAuth     *NATSAuth
}

// StartSidecar starts the daprd of app a on free ports, with the run file's
// settings and environment pointed at backends. The returned App has no app
// process yet; its env is what the app gets.
func StartSidecar(t testing.TB, env Env, a repo.RunApp, opts Options, logDir string, backends Backends) *App {
	t.Helper()
	appPort, httpPort, grpcPort := proc.FreePort(t), proc.FreePort(t), proc.FreePort(t)
	metricsPort, profilerPort := proc.FreePort(t), proc.FreePort(t)
	internalPort := opts.internalGRPCPort
	if internalPort == 0 {
		internalPort = proc.FreePort(t)
	}

	// The run file's environment, pointed at this test's backends.
	vars := maps.Clone(a.Env)
	maps.Copy(vars, backends.Components)
	vars["NATS_URL"] = backends.NATS
	if a.AppID == "notification" && backends.NATSAuth != nil {
		vars["NATS_CREDENTIALS"] = backends.NATSAuth.NotificationCreds
		vars["NATS_ACCOUNT"] = backends.NATSAuth.Account
		vars["NATS_ACCOUNT_SIGNING_KEY"] = backends.NATSAuth.SigningKey
	}
	vars["AUTH_ISSUER"] = backends.Issuer
	vars["AUTH_AUDIENCE"] = authtest.Audience
	// What the Dapr CLI hands every app and sidecar.
	vars["APP_ID"] = a.AppID
	vars["APP_PORT"] = strconv.Itoa(appPort)
	vars["DAPR_HTTP_PORT"] = strconv.Itoa(httpPort)
	vars["DAPR_GRPC_PORT"] = strconv.Itoa(grpcPort)
	vars["DAPR_HOST_IP"] = "127.0.0.1"
	// The tokens, which the apps refuse to start without: the tests run
	// as production does, not as the run file's development setting says.
	delete(vars, config.EnvInsecureNoTokens)
	apiToken, appToken := rand.Text(), rand.Text()
	vars["DAPR_API_TOKEN"] = apiToken
	vars["APP_API_TOKEN"] = appToken
	envList := envFrom(vars)

	resources := a.ResourcesPaths
	if opts.ResourcesPath != "" {
		resources = []string{opts.ResourcesPath}
	}
	args := []string{
		"--app-id", a.AppID,
		"--dapr-http-port", strconv.Itoa(httpPort),
		"--dapr-grpc-port", strconv.Itoa(grpcPort),
		"--dapr-internal-grpc-port", strconv.Itoa(internalPort),
		"--dapr-internal-grpc-listen-address", "127.0.0.1",
		"--dapr-listen-addresses", "127.0.0.1",
		"--metrics-port", strconv.Itoa(metricsPort),
		"--metrics-listen-address", "127.0.0.1",
		"--config", sidecarConfig(t, a.ConfigFilePath, opts),
		"--log-level", a.LogLevel,
		"--log-as-json",
		"--dapr-graceful-shutdown-seconds", strconv.Itoa(DaprdGracefulShutdownSeconds),
	}
	for _, r := range resources {
		args = append(args, "--resources-path", r)
	}
	if a.AppMaxConcurrency > 0 {
		args = append(args, "--app-max-concurrency", strconv.Itoa(a.AppMaxConcurrency))
	}
	if !opts.withoutApp {
		args = append(args, "--app-port", strconv.Itoa(appPort), "--app-protocol", a.AppProtocol, "--app-channel-address", "127.0.0.1")
	}
	if a.EnableAppHealth && !opts.withoutApp {
		args = append(args, "--enable-app-health-check", "--app-health-check-path", a.AppHealthPath,
			"--app-health-probe-interval", "1")
	}

	return &App{
		ID:           a.AppID,
		URL:          "http://" + proc.Addr(appPort),
		DaprURL:      "http://" + proc.Addr(httpPort),
		DaprGRPCAddr: proc.Addr(grpcPort),
		APIToken:     apiToken,
		AppToken:     appToken,
		MetricsURL:   "http://" + proc.Addr(metricsPort) + "/metrics",
		ProfilerURL:  "http://" + proc.Addr(profilerPort) + "/debug/pprof",
		Daprd:        proc.Start(t, proc.Spec{Name: "daprd-" + a.AppID, Path: env.Daprd, Args: args, Env: envList, LogDir: logDir}),
		env:          append(envList, append(appTraceEnv(opts), append(envFrom(opts.AppEnv), "PPROF_ADDR="+proc.Addr(profilerPort))...)...),
	}
}

// envFrom returns vars as an environment ("NAME=value" each, by name).
func envFrom(vars map[string]string) []string {
	env := make([]string, 0, len(vars))
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		env = append(env, k+"="+vars[k])
	}
	return env
}

// waitReady waits until every app answers /readyz and every sidecar
// /v1.0/healthz, and fails fast when a process exits meanwhile.
func (s *System) waitReady(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ReadyTimeout)
	defer cancel()
	for _, a := range s.Apps {
		if err := WaitHTTP(ctx, a.URL+"/readyz", http.StatusOK, a.Proc, a.Daprd); err != nil {
			t.Fatalf("%s not ready: %v", a.ID, err)
		}
		if err := WaitHTTP(ctx, a.DaprURL+"/v1.0/healthz", http.StatusNoContent, a.Proc, a.Daprd); err != nil {
			t.Fatalf("sidecar of %s not ready: %v", a.ID, err)
		}
	}
}

// WaitHTTP polls url until it answers want, ctx ends, or one of procs exits
// (proc.WaitUntil).
func WaitHTTP(ctx context.Context, url string, want int, procs ...*proc.Process) error {
	return WaitHTTPThrough(ctx, http.DefaultClient.Do, url, want, procs...)
}

// WaitHTTPThrough is WaitHTTP asking through do: a client that presents
// credentials, say. Each try is bounded by 2 s.
func WaitHTTPThrough(ctx context.Context, do func(*http.Request) (*http.Response, error), url string, want int, procs ...*proc.Process) error {
	return proc.WaitUntil(ctx, func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			return fmt.Errorf("%s answered %s, want %d", url, resp.Status, want)
		}
		return nil
	}, procs...)
}

// mkdirAll creates dir or fails the test.
func mkdirAll(t testing.TB, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
