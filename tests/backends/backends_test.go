// Package backends runs the same Dapr building blocks on each backend
// profile daprshop ships (components/ for Redis, components/<profile>/ for
// the others, the same component names), against the real servers, and
// pins down what each does: what the apps may rely on everywhere, and where
// the profiles differ (docs/patterns.md, "Two backend profiles"). It writes
// its report to out/backends.
package backends

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/daprshop/daprshop/tests/harness/proc"
	"github.com/daprshop/daprshop/tests/harness/system"
	"github.com/daprshop/daprshop/tests/suite"
)

var run = suite.New("backends", "out/backends")

// PostgreSQL refuses to run as root and the tests cannot switch users
// inside a user namespace: this package runs as root, in a network and
// mount namespace of its own.
func TestMain(m *testing.M) { os.Exit(run.MainPrivileged(m, nil)) }

// profile is a backend profile (its servers and component files) with
// what the test expects of it.
type profile struct {
	system.Profile
	// etag is the form of the ETags the orderstore hands out, and
	// etagForm says it in words.
	etag     *regexp.Regexp
	etagForm string
	// createOverLastWrite is what a create (first-write, no ETag) of a
	// key written last-write answers: the stores differ.
	createOverLastWrite int
	// rollback is whether a transaction one of whose operations fails
	// leaves the others undone; without, the operations before the
	// failing one stay written.
	rollback bool
	// failedTxEvents is what the outbox publishes of that transaction
	// (its operations' values, sorted, space-separated): on Redis an
	// event for each operation, also the one whose write failed.
	failedTxEvents string
}

var profiles = []profile{
	{
		Profile: system.RedisProfile,
		etag:    regexp.MustCompile(`^[1-9][0-9]*$`), etagForm: "a version counting the key's writes from 1",
		createOverLastWrite: http.StatusNoContent, rollback: false, failedTxEvents: `"a2" "b3"`,
	},
	{
		Profile: system.PostgresRabbitMQProfile,
		etag:    regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`), etagForm: "a random UUID drawn on each write",
		createOverLastWrite: http.StatusInternalServerError, rollback: true,
	},
}

// TestProfiles: order's sidecar on each profile's orderstore and pubsub
// (the outbox store and the event bus) saves with ETags, expires by TTL,
// runs transactions with their outbox events, and stops cleanly.
func TestProfiles(t *testing.T) {
	for _, p := range profiles {
		t.Run(p.Name, func(t *testing.T) {
			sc := run.Scenario(t, "backend profile "+p.Name)
			env := system.LoadEnv(t)
			logDir := env.LogDir(t)
			vars := p.Start(t, logDir, system.Options{}).Env
			events := startSubscriber(t)
			d := startOrderSidecar(t, env, p, vars, logDir, events.port)
			store := d.url + "/v1.0/state/orderstore"

			// ETags: a save with the ETag read before another save is
			// refused, as the stock's read-modify-write relies on.
			_, old := save(t, store, "k-etag", "v1", "")
			_, current := save(t, store, "k-etag", "v2", old)
			// An ETag is opaque to the apps; its form is the store's.
			sc.Check("ETags are "+p.etagForm, p.etag.MatchString(old) && p.etag.MatchString(current) && old != current,
				p.etag.String()+", a new one on each write", old+" then "+current)
			status, _ := save(t, store, "k-etag", "v3", old)
			sc.Check("a save with a stale ETag is refused", status == http.StatusConflict, "409", strconv.Itoa(status))
			_, got := get(t, store, "k-etag")
			sc.Check("a refused save changes nothing", got == `"v2"`, `"v2"`, got)

			// First-write without an ETag: "create, only if absent", as
			// daprshop creates its keys (daprstate.Put): a second create
			// is refused on both (500: Dapr does not map it to 409).
			status = saveFirstWrite(t, store, "k-create", "first")
			sc.Check("a create (first-write, no ETag) of a new key", status == http.StatusNoContent, "204", strconv.Itoa(status))
			status = saveFirstWrite(t, store, "k-create", "second")
			_, got = get(t, store, "k-create")
			sc.Check("a second create of the key is refused", status == http.StatusInternalServerError && got == `"first"`,
				`500, the key still "first"`, fmt.Sprintf("%d, the key %s", status, got))
			// A key written without first-write is not protected so on
			// every store.
			status = saveFirstWrite(t, store, "k-etag", "v4")
			sc.Check("a create over a key written last-write", status == p.createOverLastWrite,
				strconv.Itoa(p.createOverLastWrite), strconv.Itoa(status))

			// TTL.
			saveTTL(t, store, "k-ttl", "short-lived", 1)
			var gone string
			err := proc.WaitUntil(timeout(t, 15*time.Second), func(context.Context) error {
				if _, gone = get(t, store, "k-ttl"); gone != "" {
					return fmt.Errorf("still %s", gone)
				}
				return nil
			})
			sc.Check("a key saved with a TTL of 1 s is gone within 15 s", err == nil, "gone", fmt.Sprint(err))

			// A transaction publishes its event through the outbox.
			status = transact(t, store, op{Key: "order-1", Value: "placed"})
			sc.Check("a transaction commits", status == http.StatusNoContent, "204", strconv.Itoa(status))
			event, ok := events.wait(t, 30*time.Second)
			if !ok {
				event = "none within 30 s"
			}
			sc.Check("the transaction's event is delivered through the outbox", event == `"placed"`, `"placed"`, event)

			// A transaction whose second operation has a stale ETag.
			_, aETag := save(t, store, "k-a", "a1", "")
			_, bOld := save(t, store, "k-b", "b1", "")
			_, _ = save(t, store, "k-b", "b2", bOld)
			status = transact(t, store, op{Key: "k-a", Value: "a2", ETag: aETag}, op{Key: "k-b", Value: "b3", ETag: bOld})
			sc.Check("a transaction with a stale ETag fails", status >= 400, "4xx or 5xx", strconv.Itoa(status))
			_, a := get(t, store, "k-a")
			want := map[bool]string{true: `"a1"`, false: `"a2"`}[p.rollback]
			sc.Check("what a failed transaction's other operations left", a == want, want, a)
			published := strings.Join(events.within(15*time.Second), " ")
			sc.Check("what a failed transaction's outbox published (15 s)", published == p.failedTxEvents,
				fmt.Sprintf("[%s]", p.failedTxEvents), fmt.Sprintf("[%s]", published))

			// Shutdown, with the failed transaction's outbox message
			// perhaps still in flight.
			if p.KnownShutdownIssue != "" {
				sc.KnownIssue(p.KnownShutdownIssue)
			}
			err = d.proc.Shutdown()
			sc.Check("daprd stops cleanly", err == nil, "exit 0 on SIGINT", fmt.Sprint(err))
		})
	}
}

// sidecar is a daprd started by a test.
type sidecar struct {
	url  string
	proc *proc.Process
}

// startOrderSidecar starts daprd as app order, on the repository's
// resources with profile p's component files in place of the Redis ones,
// its app channel to the subscriber on appPort, and waits until healthy.
func startOrderSidecar(t *testing.T, env system.Env, p profile, vars map[string]string, logDir string, appPort int) *sidecar {
	t.Helper()
	// The test's subscriber declares its own subscriptions.
	resources := p.Resources(t, env.Root, "config.yaml", "subscriptions.yaml")
	daprd, err := system.DaprdPath(env.Root)
	if err != nil {
		t.Fatal(err)
	}
	httpPort, grpcPort, internalPort, metricsPort := proc.FreePort(t), proc.FreePort(t), proc.FreePort(t), proc.FreePort(t)
	envList := []string{"DAPR_HOST_IP=127.0.0.1"}
	for k, v := range vars {
		envList = append(envList, k+"="+v)
	}
	d := &sidecar{url: "http://" + proc.Addr(httpPort)}
	d.proc = proc.Start(t, proc.Spec{
		Name: "daprd-order", Path: daprd, LogDir: logDir, Env: envList,
		Args: []string{
			"--app-id", "order", "--app-port", strconv.Itoa(appPort), "--app-channel-address", "127.0.0.1",
			"--dapr-http-port", strconv.Itoa(httpPort), "--dapr-grpc-port", strconv.Itoa(grpcPort),
			"--dapr-internal-grpc-port", strconv.Itoa(internalPort), "--dapr-internal-grpc-listen-address", "127.0.0.1",
			"--dapr-listen-addresses", "127.0.0.1", "--metrics-port", strconv.Itoa(metricsPort), "--metrics-listen-address", "127.0.0.1",
			"--resources-path", resources, "--log-as-json",
		},
	})
	if err := system.WaitHTTP(timeout(t, system.ReadyTimeout), d.url+"/v1.0/healthz", http.StatusNoContent, d.proc); err != nil {
		t.Fatalf("daprd on %s not ready: %v", p.Name, err)
	}
	return d
}

// subscriber is the app the sidecar delivers topic orders to.
type subscriber struct {
	port   int
	events chan string
}

func startSubscriber(t *testing.T) *subscriber {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &subscriber{port: ln.Addr().(*net.TCPAddr).Port, events: make(chan string, 16)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /dapr/subscribe", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `[{"pubsubname":"pubsub","topic":"orders","route":"/orders"}]`)
	})
	mux.HandleFunc("POST /orders", func(w http.ResponseWriter, r *http.Request) {
		var event struct{ Data json.RawMessage }
		if err := json.NewDecoder(r.Body).Decode(&event); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.events <- string(event.Data)
		_, _ = io.WriteString(w, `{"status":"SUCCESS"}`)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

// within returns the data of every event that arrives within d, sorted.
func (s *subscriber) within(d time.Duration) []string {
	var got []string
	deadline := time.After(d)
	for {
		select {
		case e := <-s.events:
			got = append(got, e)
		case <-deadline:
			slices.Sort(got)
			return got
		}
	}
}

// wait returns the next event's data, or false when none comes within d.
func (s *subscriber) wait(t *testing.T, d time.Duration) (string, bool) {
	t.Helper()
	select {
	case e := <-s.events:
		return e, true
	case <-time.After(d):
		return "", false
	}
}

// op is an upsert of a transaction.
type op struct {
	Key, Value, ETag string
}

func transact(t *testing.T, store string, ops ...op) int {
	t.Helper()
	type request struct {
		Key   string `json:"key"`
		Value string `json:"value"`
		ETag  string `json:"etag,omitempty"`
	}
	var body struct {
		Operations []map[string]any `json:"operations"`
	}
	for _, o := range ops {
		body.Operations = append(body.Operations, map[string]any{"operation": "upsert", "request": request{Key: o.Key, Value: o.Value, ETag: o.ETag}})
	}
	status, _, _ := call(t, http.MethodPost, store+"/transaction", body)
	return status
}

// save saves value under key (with etag unless ""), and returns the status
// and the key's ETag afterwards.
func save(t *testing.T, store, key, value, etag string) (int, string) {
	t.Helper()
	item := map[string]any{"key": key, "value": value}
	if etag != "" {
		item["etag"] = etag
	}
	status, _, _ := call(t, http.MethodPost, store, []any{item})
	e, _ := get(t, store, key)
	return status, e
}

func saveFirstWrite(t *testing.T, store, key, value string) int {
	t.Helper()
	status, _, _ := call(t, http.MethodPost, store, []any{map[string]any{"key": key, "value": value, "options": map[string]string{"concurrency": "first-write"}}})
	return status
}

func saveTTL(t *testing.T, store, key, value string, seconds int) {
	t.Helper()
	item := map[string]any{"key": key, "value": value, "metadata": map[string]string{"ttlInSeconds": strconv.Itoa(seconds)}}
	if status, _, body := call(t, http.MethodPost, store, []any{item}); status != http.StatusNoContent {
		t.Fatalf("save %s with a TTL: %d %s", key, status, body)
	}
}

// get returns key's ETag and value ("" for none).
func get(t *testing.T, store, key string) (etag, value string) {
	t.Helper()
	status, header, body := call(t, http.MethodGet, store+"/"+key, nil)
	if status != http.StatusOK {
		return "", ""
	}
	return header.Get("ETag"), string(bytes.TrimSpace(body))
}

// call sends body (JSON, nil for none) to the sidecar's API.
func call(t *testing.T, method, url string, body any) (int, http.Header, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(timeout(t, 10*time.Second), method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Logf("%s %s: %d %s", method, strings.TrimPrefix(url, "http://"), resp.StatusCode, data)
	}
	return resp.StatusCode, resp.Header, data
}

// timeout is a context that ends after d or with the test.
func timeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}
