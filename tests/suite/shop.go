package suite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/daprshop/daprshop/internal/web"
	"github.com/daprshop/daprshop/tests/harness/system"
	"github.com/daprshop/daprshop/tests/report"
)

// Shop is a running daprshop as a scenario's clients see it: its public
// APIs over HTTP, every request timed into Scenario, and its notifications
// on NATS. The System beneath is there for what clients cannot do: look
// into the state store, stop a process.
type Shop struct {
	*system.System
	// Scenario receives every request's latency and outcome; nil records
	// nothing.
	Scenario *report.ScenarioRecorder
	// bearer is the token the shop's requests to the apps present when
	// they have none of their own; "" for an operator's.
	bearer string
}

// As returns the same shop, its requests presenting token (Token's, say,
// to act as a customer).
func (s *Shop) As(token string) *Shop {
	as := *s
	as.bearer = token
	return &as
}

// For returns the same shop, its requests timed into sc: subtests that
// share one system and record scenarios of their own.
func (s *Shop) For(sc *report.ScenarioRecorder) *Shop {
	return &Shop{System: s.System, Scenario: sc, bearer: s.bearer}
}

// Order is an order as the order service answers it.
type Order struct {
	ID         string `json:"id"`
	CustomerID string `json:"customerId"`
	Status     string `json:"status"`
	Items      []struct {
		SKU      string `json:"sku"`
		Quantity int    `json:"quantity"`
	} `json:"items"`
}

// Item is a SKU's stock as the inventory service answers it: what is
// available, reserved by orders that may still be cancelled, and fulfilled
// (their cancellation window closed). Holds, how much each order holds, is
// only in what it stores (StoredItem).
type Item struct {
	SKU       string           `json:"sku"`
	Available int              `json:"available"`
	Reserved  int              `json:"reserved"`
	Fulfilled int              `json:"fulfilled"`
	Holds     map[string]int   `json:"holds,omitempty"`
	HeldSince map[string]int64 `json:"heldSince,omitempty"`
}

// HTTPClient waits longer than the system may take to answer: an order
// placed while the broker refuses writes is refused after the sidecar's
// publish retries (17 s, components/resiliency.yaml), or once the
// request's time runs out (web.RequestTimeout: RabbitMQ's client blocks
// each publish while it reconnects) and the order service has settled its
// stock (5 s more at most). It follows no
// redirect: the APIs answer none, and one followed would hide what was
// answered (a 307 for an order POSTed to /orders/ once placed it there).
var HTTPClient = &http.Client{
	Timeout:       web.RequestTimeout + 10*time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// Do sends req and records its latency in the shop's scenario. A transport
// error or a 5xx counts as an error; 4xx answers are what many scenarios
// ask for. A request to a sidecar's API carries that sidecar's API token,
// as its app's calls do; a request to an app, directly or through a
// sidecar's service invocation, carries a bearer token: the one it has, or
// else the shop's (As), or else an operator's (Operator), as an operator's
// tools would send.
func (s *Shop) Do(req *http.Request) (*http.Response, error) {
	url := req.URL.String()
	for _, a := range s.Apps {
		toSidecar := a.DaprURL != "" && strings.HasPrefix(url, a.DaprURL+"/")
		if toSidecar {
			req.Header.Set("dapr-api-token", a.APIToken)
		}
		// Service invocation hands the request, headers and all, to an app.
		toApp := strings.HasPrefix(url, a.URL+"/") || toSidecar && strings.HasPrefix(url, a.DaprURL+"/v1.0/invoke/")
		if _, set := req.Header["Authorization"]; !set && toApp {
			token := s.bearer
			if token == "" { // sign an operator's only when it is sent
				token = s.Operator()
			}
			Authorize(req, token)
		}
	}
	start := time.Now()
	resp, err := HTTPClient.Do(req)
	if s.Scenario != nil {
		s.Scenario.Request(time.Since(start), err != nil || resp.StatusCode >= 500)
	}
	return resp, err
}

// OperatorSubject is who the shop's operator is.
const OperatorSubject = "ops-suite"

// Token is a token of customer's, signed by the system's issuer; "" when
// the system has none (the apps then authenticate nobody).
func (s *Shop) Token(customer string) string {
	if s.Issuer == nil {
		return ""
	}
	return s.Issuer.Token(customer)
}

// Operator is an operator's token, as Token.
func (s *Shop) Operator() string {
	if s.Issuer == nil {
		return ""
	}
	return s.Issuer.Operator(OperatorSubject)
}

// Authorize makes req present token; "" leaves it as it is.
func Authorize(req *http.Request, token string) {
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
}

// Anonymous makes req present no token at all, where Do would send an
// operator's.
func Anonymous(req *http.Request) {
	req.Header["Authorization"] = nil // set, so Do adds none; no value, so none is sent
}

// Call sends a JSON request and decodes a JSON answer into out (if not
// nil). It returns the status code, and stops the test if there is no
// answer.
func (s *Shop) Call(t testing.TB, method, url, body string, out any) int {
	t.Helper()
	status, err := s.TryCall(method, url, body, out)
	if err != nil {
		t.Fatal(err)
	}
	return status
}

// TryCall is Call for the goroutines of a load, which must not stop the
// test: it returns the error instead.
func (s *Shop) TryCall(method, url, body string, out any) (int, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: read body: %w", method, url, err)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: answer is not the expected JSON: %w: %s", method, url, err, data)
		}
	}
	return resp.StatusCode, nil
}

// PlaceOrder posts an order of quantity units of sku and returns the status
// and the order id (also for a 409, whose body names the rejected order). A
// request that gets no answer fails the test and returns status 0; it is
// safe to call from the goroutines of a load.
func (s *Shop) PlaceOrder(t testing.TB, key, customer, sku string, quantity int) (int, string) {
	t.Helper()
	status, id, err := s.TryPlaceOrder(key, customer, sku, quantity)
	if err != nil {
		t.Error(err)
	}
	return status, id
}

// TryPlaceOrder is PlaceOrder for a client that handles failures itself: it
// returns the error instead of failing the test.
func (s *Shop) TryPlaceOrder(key, customer, sku string, quantity int) (int, string, error) {
	return s.TryPlaceOrderIn(TraceContext{}, key, customer, sku, quantity)
}

// TryPlaceOrderIn is TryPlaceOrder in trace tc: the request carries tc's
// traceparent (none for the zero TraceContext).
func (s *Shop) TryPlaceOrderIn(tc TraceContext, key, customer, sku string, quantity int) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, s.Apps["order"].URL+"/orders",
		strings.NewReader(fmt.Sprintf(`{"customerId":%q,"items":[{"sku":%q,"quantity":%d}]}`, customer, sku, quantity)))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	if tc.TraceID != "" {
		req.Header.Set("traceparent", tc.Traceparent())
	}
	Authorize(req, s.Token(customer))
	resp, err := s.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("POST /orders: %w", err)
	}
	defer resp.Body.Close()
	var body struct {
		ID      string `json:"id"`
		OrderID string `json:"orderId"`
		Error   struct{ Code string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return resp.StatusCode, "", fmt.Errorf("POST /orders: answer is not JSON: %w", err)
	}
	if resp.StatusCode == http.StatusConflict && body.Error.Code != "insufficient_stock" {
		return resp.StatusCode, "", fmt.Errorf("POST /orders: 409 with code %q, want insufficient_stock", body.Error.Code)
	}
	return resp.StatusCode, body.ID + body.OrderID, nil
}

// Restock adds quantity units of sku, failing the test unless it is done.
func (s *Shop) Restock(t testing.TB, sku string, quantity int) {
	t.Helper()
	var item Item
	if status := s.Call(t, http.MethodPost, s.Apps["inventory"].URL+"/items/"+sku+"/restock",
		fmt.Sprintf(`{"quantity":%d}`, quantity), &item); status != http.StatusOK {
		t.Fatalf("restock %s: got status %d, want 200", sku, status)
	}
}

// Item reads the SKU's stock through the inventory service.
func (s *Shop) Item(t testing.TB, sku string) Item {
	t.Helper()
	var item Item
	if status := s.Call(t, http.MethodGet, s.Apps["inventory"].URL+"/items/"+sku, "", &item); status != http.StatusOK {
		t.Fatalf("GET /items/%s: got status %d, want 200", sku, status)
	}
	return item
}

// StoredItem reads the SKU's stock straight from the state store, past
// the apps.
func (s *Shop) StoredItem(t testing.TB, sku string) Item {
	t.Helper()
	data, ok, err := s.Store.State(context.Background(), "inventory", "item:"+sku)
	if err == nil && !ok {
		err = errors.New("not stored")
	}
	var item Item
	if err == nil {
		err = json.Unmarshal(data, &item)
	}
	if err != nil {
		t.Fatalf("stored item %s: %v", sku, err)
	}
	return item
}

// StoredOrders reads every order straight from the state store, past the
// apps.
func (s *Shop) StoredOrders(t testing.TB) []Order {
	t.Helper()
	ctx := context.Background()
	records, err := s.Store.Records(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var orders []Order
	for k := range records {
		key, ok := strings.CutPrefix(k, "order||order:")
		if !ok {
			continue
		}
		data, ok, err := s.Store.State(ctx, "order", "order:"+key)
		if err != nil {
			t.Fatal(err)
		}
		var o Order
		if err := json.Unmarshal(data, &o); ok && err != nil {
			t.Fatalf("stored order %s: %v", key, err)
		}
		if ok {
			orders = append(orders, o)
		}
	}
	return orders
}

// Subscribe subscribes to customer's notifications on NATS, as the
// customer's client would.
func (s *Shop) Subscribe(t testing.TB, customer string) chan *nats.Msg {
	t.Helper()
	nc := s.ConnectAs(t, customer)
	msgs := make(chan *nats.Msg, 16)
	if _, err := nc.ChanSubscribe("notifications."+customer, msgs); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := nc.LastError(); err != nil {
		t.Fatalf("subscribe to notifications.%s: %v", customer, err)
	}
	return msgs
}

// newNATSUser makes a NATS user key, as a customer's client does before it
// asks for credentials: the private half never leaves it.
func newNATSUser(t testing.TB) nkeys.KeyPair {
	t.Helper()
	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	return user
}

// ConnectAs connects to the shop's NATS as customer's client does: with
// the credentials notification issues the customer (a user key of the
// client's own, the JWT for it), or with none where NATS takes none. The
// connection closes when the test ends.
func (s *Shop) ConnectAs(t testing.TB, customer string) *nats.Conn {
	t.Helper()
	if s.NATS.Auth == nil {
		return s.ConnectNATS(t)
	}
	user := newNATSUser(t)
	jwt := s.NATSCredentials(t, customer, user)
	return s.ConnectNATS(t, nats.UserJWT(func() (string, error) { return jwt, nil }, user.Sign))
}

// NATSCredentials asks notification, with customer's token, for NATS
// credentials for user's public key, and returns the user JWT.
func (s *Shop) NATSCredentials(t testing.TB, customer string, user nkeys.KeyPair) string {
	t.Helper()
	pub, err := user.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	var creds struct{ JWT string }
	status := s.As(s.Token(customer)).Call(t, http.MethodPost, s.Apps["notification"].URL+"/notifications/credentials",
		fmt.Sprintf(`{"publicKey":%q}`, pub), &creds)
	if status != http.StatusCreated || creds.JWT == "" {
		t.Fatalf("NATS credentials for %s: got %d, want 201 with a JWT", customer, status)
	}
	return creds.JWT
}

// Receive returns the next message of msgs, failing the test when none
// comes within 30 s.
func Receive(t testing.TB, msgs chan *nats.Msg) *nats.Msg {
	t.Helper()
	select {
	case msg := <-msgs:
		return msg
	case <-time.After(30 * time.Second):
		t.Fatal("no notification on NATS within 30s")
		return nil
	}
}

// ConnectNATS connects to the shop's NATS with opts (credentials, say),
// closed when the test ends.
func (s *Shop) ConnectNATS(t testing.TB, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(s.NATS.URL, opts...)
	if err != nil {
		t.Fatalf("connect to nats: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// connectObserver connects to the shop's NATS as the tests' observer, who
// may subscribe to every customer's subject (no customer may).
func (s *Shop) connectObserver(t testing.TB) *nats.Conn {
	t.Helper()
	if s.NATS.Auth == nil {
		return s.ConnectNATS(t)
	}
	return s.ConnectNATS(t, nats.UserCredentials(s.NATS.Auth.ObserverCreds))
}
