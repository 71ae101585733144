package system

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/daprshop/daprshop/internal/config"
	"github.com/daprshop/daprshop/tests/findings"
	"github.com/daprshop/daprshop/tests/harness/knobs"
	"github.com/daprshop/daprshop/tests/harness/proc"
)

// Profile is a backend profile: the servers behind the sidecars' state
// stores and pub/sub, and the component files that point Dapr at them.
// Every profile's components carry the same names (statestore, orderstore,
// pubsub), so the apps cannot tell which one runs.
type Profile struct {
	// Name is the profile as knobs.Backend names it.
	Name string
	// Dir is the directory under components/ whose files replace the
	// Redis ones of the same name ("" for Redis, components/ itself).
	Dir string
	// ServerNames are the servers it starts, as Servers.Procs names them
	// (Options.SeparatePubSubRedis aside), the state store's first.
	ServerNames []string
	// VersionCommands each print the version of one of its servers.
	VersionCommands [][]string
	// KnownShutdownIssue names the Dapr bug that can make a sidecar's
	// shutdown fail on this profile ("" for none); knownShutdownFailure
	// matches what System.Stop says of the failures it causes.
	KnownShutdownIssue   string
	knownShutdownFailure *regexp.Regexp
	// FirstStartRace names the Dapr bug that makes sidecars started at
	// once on new servers race ("" for none): System.Start then starts
	// the first sidecar alone, and the others once it loaded its
	// components.
	FirstStartRace string
	// Privileged is whether the servers need root outside a user
	// namespace: PostgreSQL refuses to run as root and the tests cannot
	// switch users inside a user namespace.
	Privileged bool
	// start starts the servers for one test.
	start func(t testing.TB, logDir string, opts Options) Servers
}

// Servers are the servers a profile started for one test.
type Servers struct {
	// Env is what the profile's components read (through envRef), the
	// servers' addresses, and what the apps must be told of the stores
	// (config.EnvOrderStoreCreateETag): every sidecar and app gets it,
	// over the run file's.
	Env map[string]string
	// Store reads the state the sidecars stored, past Dapr; Broker the
	// pub/sub broker.
	Store  Store
	Broker Broker
	// Procs are the servers' processes, by the name a fault scenario
	// gives them ("Redis", "PostgreSQL", "RabbitMQ"), in start order;
	// BrokerProc is the pub/sub broker's.
	Procs      []NamedProcess
	BrokerProc *proc.Process
	// Redis, PubSubRedis are the Redis profile's servers (nil on
	// others), for what only Redis can be asked: state, and the streams
	// (the same server unless Options.SeparatePubSubRedis).
	Redis, PubSubRedis *Redis
}

// NamedProcess is a server's process and what it is.
type NamedProcess struct {
	Name string
	Proc *proc.Process
}

// RedisProfile keeps state and streams on Redis (components/).
var RedisProfile = Profile{
	Name:            "redis",
	ServerNames:     []string{"Redis"},
	VersionCommands: [][]string{{"redis-server", "--version"}},
	start:           startRedisProfile,
}

func startRedisProfile(t testing.TB, logDir string, opts Options) Servers {
	r := StartRedis(t, logDir, "redis")
	s := Servers{Redis: r, PubSubRedis: r, Store: r, Procs: []NamedProcess{{"Redis", r.Proc}}}
	if opts.SeparatePubSubRedis {
		s.PubSubRedis = StartRedis(t, logDir, "redis-pubsub")
		s.Procs = append(s.Procs, NamedProcess{"Redis of pub/sub", s.PubSubRedis.Proc})
	}
	s.Env, s.Broker, s.BrokerProc = RedisEnv(s.Redis, s.PubSubRedis), s.PubSubRedis, s.PubSubRedis.Proc
	return s
}

// PostgresRabbitMQProfile keeps state on PostgreSQL and events on RabbitMQ
// (components/postgres-rabbitmq/).
var PostgresRabbitMQProfile = Profile{
	Name:        "postgres-rabbitmq",
	Dir:         "postgres-rabbitmq",
	ServerNames: []string{"PostgreSQL", "RabbitMQ"},
	VersionCommands: [][]string{
		{PostgresBin + "/postgres", "--version"},
		{"dpkg-query", "--showformat", "RabbitMQ ${Version}", "--show", "rabbitmq-server"},
	},
	KnownShutdownIssue:   findings.OutboxHoldsRolledBack.Known(),
	FirstStartRace:       findings.PostgresMetadataRace.Known(),
	knownShutdownFailure: regexp.MustCompile(`^daprd-order .*(Graceful shutdown timeout exceeded|exit status 2)`),
	Privileged:           true,
	start:                startPostgresRabbitMQProfile,
}

func startPostgresRabbitMQProfile(t testing.TB, logDir string, _ Options) Servers {
	pg := StartPostgres(t, logDir, "postgres")
	mq := StartRabbitMQ(t, logDir, "rabbitmq")
	return Servers{
		Env: map[string]string{
			"POSTGRES_CONNECTION_STRING": pg.ConnString,
			"RABBITMQ_CONNECTION_STRING": mq.URL,
			// state.postgresql keeps first-write in transactions.
			config.EnvOrderStoreCreateETag: "",
		},
		Store:      pg,
		Broker:     mq,
		BrokerProc: mq.Proc,
		Procs:      []NamedProcess{{"PostgreSQL", pg.Proc}, {"RabbitMQ", mq.Proc}},
	}
}

// Profiles are every backend profile daprshop ships, Redis first.
var Profiles = []Profile{RedisProfile, PostgresRabbitMQProfile}

// SelectedProfile is the profile knobs.Backend names.
func SelectedProfile() (Profile, error) {
	name := knobs.Backend.Value()
	for _, p := range Profiles {
		if p.Name == name {
			return p, nil
		}
	}
	names := make([]string, len(Profiles))
	for i, p := range Profiles {
		names[i] = p.Name
	}
	return Profile{}, fmt.Errorf("%s=%q: want one of %s", knobs.Backend.Name, name, strings.Join(names, ", "))
}

// selectedProfile is SelectedProfile, failing the test on a bad knob.
func selectedProfile(t testing.TB) Profile {
	t.Helper()
	p, err := SelectedProfile()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Start starts the profile's servers for test t, stopped when it ends.
func (p Profile) Start(t testing.TB, logDir string, opts Options) Servers {
	t.Helper()
	s := p.start(t, logDir, opts)
	for i, name := range p.ServerNames {
		if s.Procs[i].Name != name {
			t.Fatalf("profile %s: server %d is %q, its ServerNames say %q", p.Name, i, s.Procs[i].Name, name)
		}
	}
	return s
}

// KnownShutdownFailures reports whether every one of failures (as
// System.Stop says them) is what the profile's KnownShutdownIssue causes.
func (p Profile) KnownShutdownFailures(failures []string) bool {
	return p.knownShutdownFailure != nil && allMatch(p.knownShutdownFailure, failures)
}

// allMatch reports whether there are failures and re matches every one.
func allMatch(re *regexp.Regexp, failures []string) bool {
	if len(failures) == 0 {
		return false
	}
	for _, f := range failures {
		if !re.MatchString(f) {
			return false
		}
	}
	return true
}

// orderSidecarHung matches what System.Stop says of order's sidecar when
// it missed its grace period.
var orderSidecarHung = regexp.MustCompile(`^daprd-order .*Graceful shutdown timeout exceeded`)

// KnownShutdown returns the known Dapr issue that explains every one of
// failures (as System.Stop says them), or "" when none does: the
// profile's own, or the one opts name for order's sidecar.
func (p Profile) KnownShutdown(failures []string, opts Options) string {
	if p.KnownShutdownFailures(failures) {
		return p.KnownShutdownIssue
	}
	if opts.KnownShutdownIssue == "" || !allMatch(orderSidecarHung, failures) {
		return ""
	}
	return opts.KnownShutdownIssue
}

// Proc returns the process of the server called name, failing the test if
// there is none.
func (s Servers) Proc(t testing.TB, name string) *proc.Process {
	t.Helper()
	for _, server := range s.Procs {
		if server.Name == name {
			return server.Proc
		}
	}
	t.Fatalf("no server %q here", name)
	return nil
}

// Resources returns a directory holding the repository's component files
// for p: components/*.yaml, those of p's own directory in place of the
// ones of the same name, and none of the files named in leaveOut.
func (p Profile) Resources(t testing.TB, root string, leaveOut ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, layer := range p.ComponentDirs(root) {
		files, err := filepath.Glob(filepath.Join(layer, "*.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if slices.Contains(leaveOut, filepath.Base(f)) {
				continue
			}
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

// ComponentDirs are the directories p's component files come from, under
// the repository at root: components/, then p's own, whose files replace
// those of the same name.
func (p Profile) ComponentDirs(root string) []string {
	dirs := []string{filepath.Join(root, "components")}
	if p.Dir != "" {
		dirs = append(dirs, filepath.Join(root, "components", p.Dir))
	}
	return dirs
}

// RedisEnv is what the Redis profile's components read: the state on
// state, the streams on pubsub.
func RedisEnv(state, pubsub *Redis) map[string]string {
	return map[string]string{
		"REDIS_HOST": state.Addr, "REDIS_PASSWORD": state.Password,
		"PUBSUB_REDIS_HOST": pubsub.Addr, "PUBSUB_REDIS_PASSWORD": pubsub.Password,
	}
}
