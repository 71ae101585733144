package system

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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

// waitTCP waits until something accepts connections on addr, failing the
// test when p exits first.
func waitTCP(t testing.TB, addr string, p *proc.Process) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
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
	c := redis.NewClient(&redis.Options{Addr: r.Addr, Password: r.Password})
	t.Cleanup(func() { c.Close() })
	return c
}

// State returns the value Dapr's state.redis stored for key of app appID:
// a hash under "<appID>||<key>" whose field "data" holds the value.
func (r *Redis) State(t testing.TB, appID, key string) []byte {
	t.Helper()
	v, err := r.Client(t).HGet(context.Background(), appID+"||"+key, "data").Bytes()
	if err != nil {
		t.Fatalf("redis HGET %s||%s data: %v", appID, key, err)
	}
	return v
}
