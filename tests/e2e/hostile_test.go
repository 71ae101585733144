package e2e

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
	natsjwt "github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/daprshop/daprshop/internal/auth/authtest"
	"github.com/daprshop/daprshop/tests/harness/system"
	"github.com/daprshop/daprshop/tests/suite"
)

// TestHostileClient sends what a hostile client would to the running
// system, one invariant per attack: each gets the 4xx it is due, the made-up
// methods add no metric series, and the state store is byte for byte what
// it was. The attacks on authentication and on other customers' data go
// after an order of a customer of its own, placed and notified first.
func TestHostileClient(t *testing.T) {
	sc := run.Scenario(t, "hostile client")
	sys := suite.Start(t, sc, system.Options{})
	victim := victimOrder(t, sys)
	before := snapshot(t, sys.Redis)

	order := func(body string) string {
		return `{"customerId":"c-1","items":[{"sku":"SKU-1","quantity":1}]` + body + `}`
	}
	nested := strings.Repeat("[", 10_000) + strings.Repeat("]", 10_000)
	refusals := []refusal{
		// Ids that would reach a NATS subject or a state key.
		{name: "customer id that splits its NATS subject (a.b)", method: "POST", path: "/orders", contentType: ctJSON, body: `{"customerId":"a.b","items":[{"sku":"SKU-1","quantity":1}]}`, wantStatus: 400, wantCode: "invalid_request"},
		{name: "customer id with an empty subject token (a.)", method: "POST", path: "/orders", contentType: ctJSON, body: `{"customerId":"a.","items":[{"sku":"SKU-1","quantity":1}]}`, wantStatus: 400, wantCode: "invalid_request"},
		{name: "customer id with NATS wildcards (a.>)", method: "POST", path: "/orders", contentType: ctJSON, body: `{"customerId":"a.>","items":[{"sku":"SKU-1","quantity":1}]}`, wantStatus: 400, wantCode: "invalid_request"},
		{name: "customer id with Dapr's key separator", method: "POST", path: "/orders", contentType: ctJSON, body: `{"customerId":"a||b","items":[{"sku":"SKU-1","quantity":1}]}`, wantStatus: 400, wantCode: "invalid_request"},
		{name: "customer id with a NUL", method: "POST", path: "/orders", contentType: ctJSON, body: `{"customerId":"c\u0000","items":[{"sku":"SKU-1","quantity":1}]}`, wantStatus: 400, wantCode: "invalid_request"},
		{name: "sku with a unicode lookalike hyphen", method: "POST", path: "/orders", contentType: ctJSON, body: `{"customerId":"c-1","items":[{"sku":"SKU‐1","quantity":1}]}`, wantStatus: 400, wantCode: "invalid_request"},
		{name: "sku with Dapr's key separator", method: "POST", path: "/orders", contentType: ctJSON, body: `{"customerId":"c-1","items":[{"sku":"SKU||1","quantity":1}]}`, wantStatus: 400, wantCode: "invalid_request"},
		{name: "Idempotency-Key with Dapr's key separator", method: "POST", path: "/orders", contentType: ctJSON, body: order(""), header: http.Header{"Idempotency-Key": {"a||b"}}, wantStatus: 400, wantCode: "invalid_request"},
		{name: "Idempotency-Key too long", method: "POST", path: "/orders", contentType: ctJSON, body: order(""), header: http.Header{"Idempotency-Key": {strings.Repeat("k", 129)}}, wantStatus: 400, wantCode: "invalid_request"},
		{name: "history of a subject wildcard", method: "GET", path: "/notifications?customerId=c.%3E", wantStatus: 400, wantCode: "invalid_request"},
		{name: "history of a split subject", method: "GET", path: "/notifications?customerId=c.1", wantStatus: 400, wantCode: "invalid_request"},
		{name: "history with Dapr's key separator", method: "GET", path: "/notifications?customerId=c%7C%7C1", wantStatus: 400, wantCode: "invalid_request"},
		{name: "order id with Dapr's key separator", method: "GET", path: "/orders/a%7C%7Cb", wantStatus: 404, wantCode: "not_found"},
		{name: "path traversal", method: "GET", path: "/orders/..%2f..%2fetc%2fpasswd", wantStatus: 404, wantCode: "not_found"},
		{name: "an order id of 10,000 characters", method: "GET", path: "/orders/" + strings.Repeat("o", 10_000), wantStatus: 404, wantCode: "not_found"},
		{name: "sku path traversal on restock", method: "POST", path: "/items/..%2fSKU-1/restock", contentType: ctJSON, body: `{"quantity":1}`, wantStatus: 404, wantCode: "not_found"},
		// Bodies.
		{name: "body over the limit", method: "POST", path: "/orders", contentType: ctJSON, body: order(`,"pad":"` + strings.Repeat("x", 100<<10) + `"`), wantStatus: 413, wantCode: "body_too_large"},
		{name: "deeply nested JSON", method: "POST", path: "/orders", contentType: ctJSON, body: `{"customerId":"c-1","items":` + nested + `}`, wantStatus: 400, wantCode: "malformed_json"},
		{name: "two JSON values", method: "POST", path: "/orders", contentType: ctJSON, body: order("") + order(""), wantStatus: 400, wantCode: "malformed_json"},
		{name: "an array, not an order", method: "POST", path: "/orders", contentType: ctJSON, body: `[]`, wantStatus: 400, wantCode: "malformed_json"},
		{name: "unknown field", method: "POST", path: "/orders", contentType: ctJSON, body: order(`,"status":"confirmed"`), wantStatus: 400, wantCode: "malformed_json"},
		{name: "quantity beyond int64", method: "POST", path: "/orders", contentType: ctJSON, body: `{"customerId":"c-1","items":[{"sku":"SKU-1","quantity":1e300}]}`, wantStatus: 400, wantCode: "malformed_json"},
		{name: "negative quantity", method: "POST", path: "/orders", contentType: ctJSON, body: `{"customerId":"c-1","items":[{"sku":"SKU-1","quantity":-1}]}`, wantStatus: 400, wantCode: "invalid_request"},
		{name: "fractional quantity", method: "POST", path: "/orders", contentType: ctJSON, body: `{"customerId":"c-1","items":[{"sku":"SKU-1","quantity":0.5}]}`, wantStatus: 400, wantCode: "malformed_json"},
		{name: "quantity as a string", method: "POST", path: "/orders", contentType: ctJSON, body: `{"customerId":"c-1","items":[{"sku":"SKU-1","quantity":"1"}]}`, wantStatus: 400, wantCode: "malformed_json"},
		{name: "51 lines", method: "POST", path: "/orders", contentType: ctJSON, body: `{"customerId":"c-1","items":[` + lines(51) + `]}`, wantStatus: 400, wantCode: "invalid_request"},
		{name: "restock of a trillion", method: "POST", path: "/items/SKU-1/restock", contentType: ctJSON, body: `{"quantity":1000000000000}`, wantStatus: 400, wantCode: "invalid_request"},
		{name: "customer id twice (which one is acted on?)", method: "POST", path: "/orders", contentType: ctJSON, body: `{"customerId":"c-1","items":[{"sku":"SKU-1","quantity":1}],"customerId":"c-2"}`, wantStatus: 400, wantCode: "malformed_json"},
		{name: "customer id in another case", method: "POST", path: "/orders", contentType: ctJSON, body: `{"CustomerID":"c-1","items":[{"sku":"SKU-1","quantity":1}]}`, wantStatus: 400, wantCode: "malformed_json"},
		{name: "customer id and its case variant", method: "POST", path: "/orders", contentType: ctJSON, body: `{"customerId":"c-1","CUSTOMERID":"c-2","items":[{"sku":"SKU-1","quantity":1}]}`, wantStatus: 400, wantCode: "malformed_json"},
		{name: "quantity twice on restock", method: "POST", path: "/items/SKU-1/restock", contentType: ctJSON, body: `{"quantity":1,"quantity":900000}`, wantStatus: 400, wantCode: "malformed_json"},
		{name: "customer id in invalid UTF-8", method: "POST", path: "/orders", contentType: ctJSON, body: "{\"customerId\":\"c-\xff\",\"items\":[{\"sku\":\"SKU-1\",\"quantity\":1}]}", wantStatus: 400, wantCode: "malformed_json"},
		{name: "JSON sent as a form", method: "POST", path: "/orders", contentType: "application/x-www-form-urlencoded", body: order(""), wantStatus: 415, wantCode: "unsupported_media_type"},
		// Methods.
		{name: "TRACE", method: "TRACE", path: "/orders", wantStatus: 405, wantCode: "method_not_allowed"},
		{name: "a made-up method", method: "FOO", path: "/orders", wantStatus: 405, wantCode: "method_not_allowed"},
	}
	for i := range 50 {
		refusals = append(refusals, refusal{name: fmt.Sprintf("made-up method BREW%d", i), method: fmt.Sprintf("BREW%d", i),
			path: fmt.Sprintf("/nowhere/%d", i), wantStatus: 404, wantCode: "not_found"})
	}
	refusals = append(refusals, tokenAttacks(t, sys, victim)...)
	refuseAll(t, sc, sys, refusals)

	var madeUp []string
	for _, method := range requestMethods(t, sys) {
		if !slices.Contains(standardMethods, method) {
			madeUp = append(madeUp, method)
		}
	}
	sc.Check("made-up methods add no metric series", len(madeUp) == 0,
		"the method label of every series one of HTTP's or OTHER", fmt.Sprintf("series with methods %q", madeUp))
	checkUnchanged(t, sc, sys, before)
}

// TestHostileClientOnNATS attacks the push channel, one invariant per
// attack: getting on NATS without credentials notification issued,
// listening to another customer's notifications, forging one. Each must be
// refused by nats-server; and a notification sent afterwards reaches its
// customer and nobody else.
func TestHostileClientOnNATS(t *testing.T) {
	sc := run.Scenario(t, "hostile client: NATS")
	sys := suite.Start(t, sc, system.Options{})

	connect := func(opts ...nats.Option) error {
		nc, err := nats.Connect(sys.NATS.URL, append(opts, nats.NoReconnect())...)
		if err == nil {
			nc.Close()
		}
		return err
	}
	user := func() nkeys.KeyPair {
		kp, err := nkeys.CreateUser()
		if err != nil {
			t.Fatal(err)
		}
		return kp
	}
	withKey := func(jwt string, key nkeys.KeyPair) nats.Option {
		return nats.UserJWT(func() (string, error) { return jwt, nil }, key.Sign)
	}
	leaked := sys.NATSCredentials(t, victimCustomer, user()) // the victim's JWT, without its key
	forged := forgedUserJWT(t, user())
	for _, a := range []struct {
		name string
		err  error
	}{
		{"connect without credentials", connect()},
		{"connect with a user JWT signed by an account of the attacker's own", connect(withKey(forged.jwt, forged.key))},
		{"connect with the victim's JWT, signing with another key", connect(withKey(leaked, user()))},
	} {
		sc.Check("refused: NATS "+a.name, a.err != nil && strings.Contains(strings.ToLower(a.err.Error()), "authorization violation"),
			"nats-server's Authorization Violation", fmt.Sprint(a.err))
	}

	// The attacker's own credentials, used beyond its own subject.
	refusals := system.NewNATSRefusals()
	key := user()
	attacker := sys.ConnectNATS(t, withKey(sys.NATSCredentials(t, attackerCustomer, key), key), refusals.Option())
	var overheard atomic.Int32
	for _, a := range []struct {
		name string
		act  func() error
	}{
		{"subscribe to another customer's subject", func() error { return subscribeCounting(attacker, "notifications."+victimCustomer, &overheard) }},
		{"subscribe to every customer's (notifications.>)", func() error { return subscribeCounting(attacker, "notifications.>", &overheard) }},
		{"subscribe to every customer's (notifications.*)", func() error { return subscribeCounting(attacker, "notifications.*", &overheard) }},
		{"subscribe to everything (>)", func() error { return subscribeCounting(attacker, ">", &overheard) }},
		{"publish a notification to another customer", func() error {
			return attacker.Publish("notifications."+victimCustomer, []byte(`{"status":"confirmed","message":"refund on evil.example"}`))
		}},
		{"publish to its own subject", func() error { return attacker.Publish("notifications."+attackerCustomer, []byte(`{}`)) }},
	} {
		observed := "accepted: no error within 2s"
		if err := refusals.Refusal(t, attacker, 2*time.Second, a.act); err != nil {
			observed = err.Error()
		}
		sc.Check("refused: NATS "+a.name, strings.Contains(strings.ToLower(observed), "permissions violation"),
			"nats-server's Permissions Violation", observed)
	}

	msgs := sys.Subscribe(t, victimCustomer)
	if status, _ := sys.PlaceOrder(t, "", victimCustomer, "SKU-1", 1); status != http.StatusCreated {
		t.Fatalf("the victim's order: got %d, want 201", status)
	}
	msg := suite.Receive(t, msgs)
	select {
	case forged := <-msgs:
		sc.Check("no forged notification reached the victim", false, "only the shop's", string(forged.Data))
	case <-time.After(time.Second):
		sc.Check("no forged notification reached the victim", !strings.Contains(string(msg.Data), "evil"), "only the shop's", string(msg.Data))
	}
	sc.Check("the attacker overheard nothing", overheard.Load() == 0, "0 messages on its refused subscriptions", fmt.Sprint(overheard.Load()))
}

// subscribeCounting subscribes nc to subject, counting what arrives.
func subscribeCounting(nc *nats.Conn, subject string, n *atomic.Int32) error {
	_, err := nc.Subscribe(subject, func(*nats.Msg) { n.Add(1) })
	return err
}

// forgedUser is a user JWT signed by an account key of the attacker's
// own, allowed everything, and the user's key.
type forgedUser struct {
	jwt string
	key nkeys.KeyPair
}

func forgedUserJWT(t *testing.T, key nkeys.KeyPair) forgedUser {
	t.Helper()
	account, err := nkeys.CreateAccount()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := key.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	token, err := natsjwt.NewUserClaims(pub).Encode(account)
	if err != nil {
		t.Fatal(err)
	}
	return forgedUser{jwt: token, key: key}
}

// victimCustomer is the customer whose data the attacks go after, and
// attackerCustomer the customer whose token they use.
const (
	victimCustomer   = "c-victim"
	attackerCustomer = "c-attacker"
)

// victimOrder places an order as victimCustomer, waits until its
// notification has been sent and recorded, and returns its id.
func victimOrder(t *testing.T, sys *suite.Shop) string {
	t.Helper()
	msgs := sys.Subscribe(t, victimCustomer)
	status, id := sys.PlaceOrder(t, "", victimCustomer, "SKU-1", 1)
	if status != http.StatusCreated {
		t.Fatalf("the victim's order: got %d, want 201", status)
	}
	suite.Receive(t, msgs)
	if err := sys.AwaitDrained(t, time.Minute); err != nil {
		t.Fatal(err)
	}
	return id
}

// tokenAttacks are the attacks on authentication (no token, tokens forged,
// expired, for another audience or issuer, with a subject no customer can
// have) and on what the victim's order, notifications and the operators'
// routes let another customer do.
func tokenAttacks(t *testing.T, sys *suite.Shop, victimOrderID string) []refusal {
	stranger := authtest.Start(t, "127.0.0.1:0") // an issuer of the attacker's own
	claims := func(edit func(*authtest.Claims)) authtest.Claims {
		c := sys.Issuer.Claims(victimCustomer)
		edit(&c)
		return c
	}
	bearer := func(token string) http.Header { return http.Header{"Authorization": {"Bearer " + token}} }
	attacker := bearer(sys.Token(attackerCustomer))
	orderPath, cancelPath := "/orders/"+victimOrderID, "/orders/"+victimOrderID+"/cancel"
	history := "/notifications?customerId=" + victimCustomer
	anOrder := `{"items":[{"sku":"SKU-1","quantity":1}]}`

	var refusals []refusal
	// Without a token, no route but the probes answers.
	for _, r := range []struct{ method, path, body string }{
		{"POST", "/orders", anOrder}, {"GET", orderPath, ""}, {"POST", cancelPath, ""},
		{"GET", history, ""}, {"GET", "/items", ""}, {"GET", "/items/SKU-1", ""},
		{"POST", "/items/SKU-1/restock", `{"quantity":1}`}, {"GET", "/deadletters", ""}, {"POST", "/deadletters/x/redrive", ""},
		{"POST", "/notifications/credentials", `{"publicKey":"` + userPublicKey(t) + `"}`},
	} {
		refusals = append(refusals, refusal{name: "no token: " + r.method + " " + r.path, method: r.method, path: r.path,
			contentType: ctJSON, body: r.body, header: http.Header{"Authorization": nil}, wantStatus: 401, wantCode: "unauthorized"})
	}
	// Tokens the issuer did not sign as they are, or not for daprshop now.
	for _, f := range []struct{ name, token string }{
		{"expired", sys.Issuer.Sign(claims(func(c *authtest.Claims) { c.Expiry = jwt.NewNumericDate(time.Now().Add(-time.Minute)) }))},
		{"not valid yet", sys.Issuer.Sign(claims(func(c *authtest.Claims) { c.NotBefore = jwt.NewNumericDate(time.Now().Add(time.Hour)) }))},
		{"for another audience", sys.Issuer.Sign(claims(func(c *authtest.Claims) { c.Audience = jwt.Audience{"another-app"} }))},
		{"naming another issuer", sys.Issuer.Sign(claims(func(c *authtest.Claims) { c.Issuer = stranger.URL }))},
		{"signed by another issuer", stranger.Sign(claims(func(*authtest.Claims) {}))},
		{"unsigned (alg none)", authtest.Unsigned(claims(func(*authtest.Claims) {}))},
		{"signed with a shared secret (HS256)", authtest.SignedWithSecret(claims(func(*authtest.Claims) {}))},
		{"the attacker's, its subject changed to the victim's", authtest.Tampered(sys.Token(attackerCustomer), claims(func(*authtest.Claims) {}))},
		{"a subject that splits a NATS subject (c.victim)", sys.Issuer.Token("c.victim")},
		{"a subject with Dapr's key separator", sys.Issuer.Token("c||victim")},
		{"not a JWT", "c-victim"},
	} {
		refusals = append(refusals, refusal{name: "token " + f.name, method: "GET", path: orderPath,
			header: bearer(f.token), wantStatus: 401, wantCode: "unauthorized"})
	}
	refusals = append(refusals,
		refusal{name: "token in Basic authentication", method: "GET", path: orderPath,
			header: http.Header{"Authorization": {"Basic " + sys.Token(victimCustomer)}}, wantStatus: 401, wantCode: "unauthorized"},
		// Another customer's token: the victim's data is not found, as if
		// it did not exist; ordering in the victim's name is forbidden.
		refusal{name: "another customer reads the order", method: "GET", path: orderPath, header: attacker, wantStatus: 404, wantCode: "not_found"},
		refusal{name: "another customer cancels the order", method: "POST", path: cancelPath, header: attacker, wantStatus: 404, wantCode: "not_found"},
		refusal{name: "another customer reads the notifications", method: "GET", path: history, header: attacker, wantStatus: 404, wantCode: "not_found"},
		refusal{name: "another customer orders in the victim's name", method: "POST", path: "/orders", contentType: ctJSON,
			body: `{"customerId":"` + victimCustomer + `","items":[{"sku":"SKU-1","quantity":1}]}`, header: attacker, wantStatus: 403, wantCode: "forbidden"},
		refusal{name: "another customer asks for NATS credentials in the victim's name", method: "POST", path: "/notifications/credentials", contentType: ctJSON,
			body: `{"publicKey":"` + userPublicKey(t) + `","customerId":"` + victimCustomer + `"}`, header: attacker, wantStatus: 403, wantCode: "forbidden"},
		refusal{name: "NATS credentials for a key that is not a user's", method: "POST", path: "/notifications/credentials", contentType: ctJSON,
			body: `{"publicKey":"` + sys.NATS.Auth.Account + `"}`, header: attacker, wantStatus: 400, wantCode: "invalid_request"},
		// A customer's token on the operators' routes.
		refusal{name: "a customer restocks", method: "POST", path: "/items/SKU-1/restock", contentType: ctJSON, body: `{"quantity":1}`, header: attacker, wantStatus: 403, wantCode: "forbidden"},
		refusal{name: "a customer lists dead letters", method: "GET", path: "/deadletters", header: attacker, wantStatus: 403, wantCode: "forbidden"},
		refusal{name: "a customer redrives a dead letter", method: "POST", path: "/deadletters/x/redrive", header: attacker, wantStatus: 403, wantCode: "forbidden"},
		refusal{name: "a customer whose role is Operator, capitalised", method: "POST", path: "/items/SKU-1/restock", contentType: ctJSON, body: `{"quantity":1}`,
			header: bearer(sys.Issuer.Token(attackerCustomer, "Operator")), wantStatus: 403, wantCode: "forbidden"},
	)
	return refusals
}

// userPublicKey is the public key of a fresh NATS user key.
func userPublicKey(t *testing.T) string {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// standardMethods are the method labels a request series may have.
var standardMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE", "OTHER"}

// requestMethods returns the method label of every request series on
// order's /metrics.
func requestMethods(t *testing.T, sys *suite.Shop) []string {
	t.Helper()
	samples, err := system.Samples(suite.HTTPClient, sys.App(t, "order").URL+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var methods []string
	for name := range samples {
		if !strings.HasPrefix(name, "daprshop_http_requests_total{") {
			continue
		}
		_, rest, _ := strings.Cut(name, `method="`)
		method, _, _ := strings.Cut(rest, `"`)
		methods = append(methods, method)
	}
	return methods
}

// lines returns n order lines of distinct SKUs, as JSON.
func lines(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"sku":"SKU-L%d","quantity":1}`, i)
	}
	return b.String()
}
