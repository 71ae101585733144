package system

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/daprshop/daprshop/tests/harness/proc"
)

// Redis is a redis-server: one started for a test, or one a platform runs
// (a Kubernetes pod), which asks for a Password.
type Redis struct {
	Addr     string
	Password string
	Proc     *proc.Process
}

// NATS is a nats-server started for one test.
type NATS struct {
	URL  string
	Addr string
	// Auth is what the server trusts and its clients hold, when it
	// authenticates them (nil: anyone may connect, publish and subscribe).
	Auth *NATSAuth
	Proc *proc.Process
}

// StartRedis starts Debian's redis-server on a free loopback port and waits
// until it accepts connections. It persists every write to its append-only
// file before answering (appendfsync always), as a store of record must: a
// Redis killed and restarted loses nothing it acknowledged. That costs about
// 0.25 ms a write on this project's test machines.
func StartRedis(t testing.TB, logDir, name string) *Redis {
	t.Helper()
	path := lookPath(t, "redis-server", "redis-server")
	port := proc.FreePort(t)
	r := &Redis{Addr: proc.Addr(port)}
	r.Proc = proc.Start(t, proc.Spec{
		Name: name, Path: path, LogDir: logDir, Dir: t.TempDir(),
		Args: []string{"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--save", "", "--appendonly", "yes", "--appendfsync", "always"},
	})
	waitTCP(t, r.Addr, r.Proc)
	return r
}

// StartNATS starts a nats-server on a free loopback port and waits until it
// accepts connections. With auth, it authenticates every client against
// auth's operator and account (JWT mode); without, it takes anyone.
func StartNATS(t testing.TB, logDir string, auth *NATSAuth) *NATS {
	t.Helper()
	path := lookPath(t, "nats-server", "nats-server")
	port := proc.FreePort(t)
	n := &NATS{Addr: proc.Addr(port), URL: "nats://" + proc.Addr(port), Auth: auth}
	config := fmt.Sprintf("host: 127.0.0.1\nport: %d\n", port)
	if auth != nil {
		config += auth.ServerConfig
	}
	file := filepath.Join(t.TempDir(), "nats-server.conf")
	if err := os.WriteFile(file, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	n.Proc = proc.Start(t, proc.Spec{Name: "nats", Path: path, LogDir: logDir, Args: []string{"-c", file}})
	waitTCP(t, n.Addr, n.Proc)
	return n
}

func lookPath(t testing.TB, bin, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(bin)
	if err != nil {
		t.Fatalf("%s not found: install Debian's %s package (apt-get install %s)", bin, pkg, pkg)
	}
	return path
}

// serverStartTimeout bounds how long a server may take to listen: RabbitMQ
// boots an Erlang VM, about 5 s on an idle machine and over 20 s on one
// busy with the other suites.
const serverStartTimeout = time.Minute

// waitTCP waits until something accepts connections on addr, failing the
// test when p exits first.
func waitTCP(t testing.TB, addr string, p *proc.Process) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), serverStartTimeout)
	defer cancel()
	err := proc.WaitUntil(ctx, func(context.Context) error {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
		}
		return err
	}, p)
	if err != nil {
		t.Fatalf("nothing listens on %s: %v", addr, err)
	}
}

// Client returns a go-redis client on r, closed when the test ends. Tests use
// it to look at what the sidecars stored, past the apps' own APIs.
func (r *Redis) Client(t testing.TB) *redis.Client {
	t.Helper()
	c := r.client()
	t.Cleanup(func() { c.Close() })
	return c
}

func (r *Redis) client() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: r.Addr, Password: r.Password})
}

// PostgresBin is where Debian's postgresql-15 puts the server's programs
// (not on PATH: pg_ctlcluster wraps them for the packaged clusters, which
// the tests do not use).
const PostgresBin = "/usr/lib/postgresql/15/bin"

// Postgres is a PostgreSQL server started for one test: one database,
// "postgres", whose user "postgres" connects without a password from
// loopback, with one from elsewhere.
type Postgres struct {
	Addr string
	// ConnString is what Dapr's state.postgresql takes as
	// connectionString.
	ConnString string
	Proc       *proc.Process
}

// StartPostgres starts Debian's PostgreSQL 15 on a free loopback port, with
// its data in a directory of its own, and waits until it accepts
// connections. The server refuses to run as root, so it runs as the
// package's postgres user: a test that starts it runs as root outside a
// user namespace (netns.ReexecPrivileged).
func StartPostgres(t testing.TB, logDir, name string) *Postgres {
	t.Helper()
	return startPostgres(t, logDir, name, "127.0.0.1", proc.FreePort(t), "")
}

// PostgresPort is PostgreSQL's own port, which StartPostgresOn serves on.
const PostgresPort = 5432

// StartPostgresOn is StartPostgres serving host, an address of the test's
// own network namespace, on PostgresPort, for clients in other namespaces
// (a cluster's pods, as a database outside the cluster serves them): they
// authenticate with a password drawn here, which ConnString carries.
func StartPostgresOn(t testing.TB, logDir, name, host string) *Postgres {
	t.Helper()
	return startPostgres(t, logDir, name, host, PostgresPort, rand.Text())
}

// startPostgres starts the server on host:port; without a password its
// user connects from loopback only, without one.
func startPostgres(t testing.TB, logDir, name, host string, port int, password string) *Postgres {
	t.Helper()
	lookPath(t, filepath.Join(PostgresBin, "postgres"), "postgresql-15")
	owner := systemUser(t, "postgres", "postgresql-15")
	dir := ownedTempDir(t, owner)
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(PostgresBin, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "--no-sync")
	if password != "" {
		file := filepath.Join(dir, "password")
		if err := os.WriteFile(file, []byte(password+"\n"), 0o400); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(file, int(owner.uid), int(owner.gid)); err != nil {
			t.Fatal(err)
		}
		initdb.Args = append(initdb.Args, "--auth-host=scram-sha-256", "--pwfile="+file)
	}
	initdb.SysProcAttr = owner.credential()
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	if password != "" {
		// initdb lets in loopback only; with the password, the networks
		// this namespace is on (samenet: a cluster's pods, on the node's
		// bridge) and nothing beyond them.
		hba, err := os.OpenFile(filepath.Join(data, "pg_hba.conf"), os.O_APPEND|os.O_WRONLY, 0)
		if err == nil {
			_, err = hba.WriteString("host all all samenet scram-sha-256\n")
			err = errors.Join(err, hba.Close())
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	p := &Postgres{Addr: net.JoinHostPort(host, strconv.Itoa(port))}
	p.ConnString = fmt.Sprintf("host=%s port=%d user=postgres dbname=postgres sslmode=disable", host, port)
	if password != "" {
		p.ConnString += " password=" + password
	}
	p.Proc = proc.Start(t, proc.Spec{
		Name: name, Path: "setpriv", LogDir: logDir, Dir: dir,
		// setpriv execs the server: the PID the test stops is the
		// postmaster's, which shuts down fast on SIGINT.
		Args: append(owner.setprivArgs(), filepath.Join(PostgresBin, "postgres"), "-D", data, "-p", strconv.Itoa(port),
			"-k", dir, "-c", "listen_addresses="+host),
	})
	waitTCP(t, p.Addr, p.Proc)
	return p
}

// rabbitMQBin holds Debian's rabbitmq-server programs themselves (those on
// PATH switch to the package's user first, and lose the environment).
const rabbitMQBin = "/usr/lib/rabbitmq/bin"

// RabbitMQ is a RabbitMQ broker started for one test, with the default
// guest user (which may connect from loopback only), or one of its own.
type RabbitMQ struct {
	Addr string
	// URL is what Dapr's pubsub.rabbitmq takes as connectionString.
	URL  string
	Proc *proc.Process
	// epmd is the Erlang port mapper the broker registers with: started
	// by the test, so that it stops with it (the broker would otherwise
	// start one that outlives it).
	epmd *proc.Process
	// ctlEnv is the environment rabbitmqctl reaches the broker with.
	ctlEnv []string
}

// StartRabbitMQ starts Debian's RabbitMQ on free loopback ports (AMQP, and
// Erlang's distribution and port mapper), with its data in a directory of
// its own and no plugins, and waits until it accepts connections.
func StartRabbitMQ(t testing.TB, logDir, name string) *RabbitMQ {
	t.Helper()
	return startRabbitMQ(t, logDir, name, "127.0.0.1", proc.FreePort(t))
}

// RabbitMQPort is AMQP's own port, which StartRabbitMQOn serves on.
const RabbitMQPort = 5672

// StartRabbitMQOn is StartRabbitMQ serving AMQP on host, an address of the
// test's own network namespace, on RabbitMQPort, for clients in other
// namespaces (a cluster's pods): they connect as a user made here, whose
// password URL carries (guest may connect from loopback only).
func StartRabbitMQOn(t testing.TB, logDir, name, host string) *RabbitMQ {
	t.Helper()
	r := startRabbitMQ(t, logDir, name, host, RabbitMQPort)
	const user = "daprshop"
	password := rand.Text()
	ctx := context.Background()
	for _, args := range [][]string{
		{"add_user", user, password},
		{"set_permissions", "-p", "/", user, ".*", ".*", ".*"},
	} {
		if _, err := r.ctl(ctx, args...); err != nil {
			t.Fatal(err)
		}
	}
	r.URL = "amqp://" + user + ":" + password + "@" + r.Addr
	return r
}

// startRabbitMQ starts the broker serving AMQP on host:amqpPort.
func startRabbitMQ(t testing.TB, logDir, name, host string, amqpPort int) *RabbitMQ {
	t.Helper()
	server := lookPath(t, rabbitMQBin+"/rabbitmq-server", "rabbitmq-server")
	epmdPort, distPort := proc.FreePort(t), proc.FreePort(t)
	dir := t.TempDir()
	plugins := filepath.Join(dir, "enabled_plugins")
	if err := os.WriteFile(plugins, []byte("[].\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort(host, strconv.Itoa(amqpPort))
	r := &RabbitMQ{Addr: addr, URL: "amqp://guest:guest@" + addr}
	r.epmd = proc.Start(t, proc.Spec{Name: name + "-epmd", Path: lookPath(t, "epmd", "erlang-base"), LogDir: logDir,
		Args: []string{"-address", "127.0.0.1", "-port", strconv.Itoa(epmdPort)}, StopSignal: syscall.SIGTERM, EndsByStopSignal: true})
	waitTCP(t, proc.Addr(epmdPort), r.epmd)
	// What the server and rabbitmqctl share: where to find the node
	// (its port mapper and name), and the cookie under HOME.
	nodeEnv := []string{
		"HOME=" + dir,
		"RABBITMQ_NODENAME=rabbit@localhost",
		"ERL_EPMD_ADDRESS=127.0.0.1",
		"ERL_EPMD_PORT=" + strconv.Itoa(epmdPort),
	}
	r.ctlEnv = append(os.Environ(), nodeEnv...)
	r.Proc = proc.Start(t, proc.Spec{
		Name: name, Path: server, LogDir: logDir, Dir: dir,
		Env: append(nodeEnv,
			"RABBITMQ_MNESIA_BASE="+filepath.Join(dir, "mnesia"),
			"RABBITMQ_LOG_BASE="+filepath.Join(dir, "log"),
			"RABBITMQ_LOGS=-", // to the process's output, and so to its log
			"RABBITMQ_NODE_IP_ADDRESS="+host,
			"RABBITMQ_NODE_PORT="+strconv.Itoa(amqpPort),
			"RABBITMQ_DIST_PORT="+strconv.Itoa(distPort),
			"RABBITMQ_ENABLED_PLUGINS_FILE="+plugins,
			// The script then execs the Erlang VM, whose PID the test
			// stops, rather than waiting on it in a shell.
			"RUNNING_UNDER_SYSTEMD=1",
		),
		StopSignal: syscall.SIGTERM,
	})
	waitTCP(t, r.Addr, r.Proc)
	return r
}

// systemUserID is a user of the machine a server runs as.
type systemUserID struct{ uid, gid uint32 }

// systemUser looks up the user name, which Debian's package pkg creates.
func systemUser(t testing.TB, name, pkg string) systemUserID {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatalf("user %s: %v (install Debian's %s package)", name, err, pkg)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return systemUserID{uid: uint32(uid), gid: uint32(gid)}
}

func (u systemUserID) credential() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: u.uid, Gid: u.gid}}
}

func (u systemUserID) setprivArgs() []string {
	return []string{"--reuid", strconv.Itoa(int(u.uid)), "--regid", strconv.Itoa(int(u.gid)), "--clear-groups", "--"}
}

// ownedTempDir is a new directory owned by u (t.TempDir's are root's
// alone, under a parent u cannot enter), removed when the test ends.
func ownedTempDir(t testing.TB, u systemUserID) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "daprshop-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chown(dir, int(u.uid), int(u.gid)); err != nil {
		t.Fatal(err)
	}
	return dir
}
