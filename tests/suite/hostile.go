package suite

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
	natsjwt "github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/daprshop/daprshop/internal/auth"
	"github.com/daprshop/daprshop/internal/auth/authtest"
	"github.com/daprshop/daprshop/tests/harness/system"
	"github.com/daprshop/daprshop/tests/report"
)

// HostileClient sends what a hostile client would to the running shop,
// one invariant per attack: each gets the 4xx it is due, the made-up
// methods add no metric series, and the state store is byte for byte what
// it was. The attacks on authentication and on other customers' data go
// after an order of a customer of its own, placed and notified first. The
// shop must be quiet: nothing else may write to its store meanwhile.
func HostileClient(t *testing.T, sc *report.ScenarioRecorder, sys *Shop) {
	victim := victimOrder(t, sys)
	before := Snapshot(t, sys.Store)
	fetches := watchKeyFetches(sys)

	refusals := requestAttacks()
	refusals = append(refusals, tokenAttacks(t, sys, victim)...)
	refusals = append(refusals, claimAttacks(sys, victim)...)
	RefuseAll(t, sc, sys, refusals)
	floodForgedTokens(t, sc, sys, victim)
	fetches.check(sc, "the attacks")

	var madeUp []string
	for _, method := range requestMethods(t, sys) {
		if !slices.Contains(standardMethods, method) {
			madeUp = append(madeUp, method)
		}
	}
	sc.Check("made-up methods add no metric series", len(madeUp) == 0,
		"the method label of every series one of HTTP's or OTHER", fmt.Sprintf("series with methods %q", madeUp))
	CheckUnchanged(t, sc, sys, before)
	keyRotation(t, sc, sys, victim)
}

// HostileClientOnNATS attacks the push channel, one invariant per attack:
// getting on NATS without credentials notification issued, listening to
// another customer's notifications, forging one. Each must be refused by
// nats-server; and a notification sent afterwards reaches its customer and
// nobody else.
func HostileClientOnNATS(t *testing.T, sc *report.ScenarioRecorder, sys *Shop) {

	connect := func(opts ...nats.Option) error {
		nc, err := nats.Connect(sys.NATS.URL, append(opts, nats.NoReconnect())...)
		if err == nil {
			nc.Close()
		}
		return err
	}
	user := func() nkeys.KeyPair { return newNATSUser(t) }
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

	natsLimits(t, sc, sys, attacker, refusals, sys.NATSCredentials(t, attackerCustomer, key))

	msgs := sys.Subscribe(t, victimCustomer)
	if status, _ := sys.PlaceOrder(t, "", victimCustomer, "SKU-1", 1); status != http.StatusCreated {
		t.Fatalf("the victim's order: got %d, want 201", status)
	}
	msg := Receive(t, msgs)
	select {
	case forged := <-msgs:
		sc.Check("no forged notification reached the victim", false, "only the shop's", string(forged.Data))
	case <-time.After(time.Second):
		sc.Check("no forged notification reached the victim", !strings.Contains(string(msg.Data), "evil"), "only the shop's", string(msg.Data))
	}
	sc.Check("the attacker overheard nothing", overheard.Load() == 0, "0 messages on its refused subscriptions", fmt.Sprint(overheard.Load()))
}

// natsLimits checks that a customer's credentials (their user JWT, jwt)
// carry the limits of what a customer's client needs, that nats-server
// enforces them on the customer's connection nc, and that a customer asking
// for credentials over and over is soon refused. (A user JWT cannot bound
// the connections one user opens: only the account's.)
func natsLimits(t *testing.T, sc *report.ScenarioRecorder, sys *Shop, nc *nats.Conn, refusals *system.NATSRefusals, jwt string) {
	t.Helper()
	claims, err := natsjwt.DecodeUserClaims(jwt)
	if err != nil {
		t.Fatal(err)
	}
	subs, payload := claims.Limits.Subs, claims.Limits.Payload
	sc.Check("a customer's NATS credentials bound its subscriptions", subs >= 1 && subs <= 10,
		"1 to 10 subscriptions a connection", fmt.Sprint(subs))
	sc.Check("a customer's NATS credentials bound the messages it may send", payload >= 0 && payload <= 1024 && int64(nc.MaxPayload()) == payload,
		"at most 1 KiB, as the server tells the connection", fmt.Sprintf("%d in the JWT, %d from the server", payload, nc.MaxPayload()))
	if subs >= 1 && subs <= 10 {
		var refused error
		for range subs + 1 {
			refused = refusals.Refusal(t, nc, time.Second, func() error { _, err := nc.SubscribeSync("notifications." + attackerCustomer); return err })
		}
		sc.Check(fmt.Sprintf("refused: NATS subscription %d of one connection", subs+1),
			strings.Contains(strings.ToLower(fmt.Sprint(refused)), "maximum subscriptions exceeded"),
			"nats-server's Maximum Subscriptions Exceeded", fmt.Sprint(refused))
	}

	// Credentials asked for again and again, by one customer.
	const greedy = "c-greedy"
	var statuses []int
	for range 20 {
		status := sys.As(sys.Token(greedy)).Call(t, http.MethodPost, sys.App(t, "notification").URL+"/notifications/credentials",
			fmt.Sprintf(`{"publicKey":%q}`, userPublicKey(t)), nil)
		statuses = append(statuses, status)
	}
	issued := slices.IndexFunc(statuses, func(s int) bool { return s != http.StatusCreated })
	sc.Check("refused: NATS credentials asked for 20 times in a row", issued >= 1 && issued <= 10 &&
		!slices.ContainsFunc(statuses[issued:], func(s int) bool { return s != http.StatusTooManyRequests }),
		"a few 201s, then 429 for the rest", fmt.Sprint(statuses))
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
func victimOrder(t *testing.T, sys *Shop) string {
	t.Helper()
	msgs := sys.Subscribe(t, victimCustomer)
	status, id := sys.PlaceOrder(t, "", victimCustomer, "SKU-1", 1)
	if status != http.StatusCreated {
		t.Fatalf("the victim's order: got %d, want 201", status)
	}
	Receive(t, msgs)
	if err := sys.AwaitDrained(t, time.Minute); err != nil {
		t.Fatal(err)
	}
	return id
}

// tokenAttacks are the attacks on authentication (no token, tokens forged,
// expired, for another audience or issuer, with a subject no customer can
// have) and on what the victim's order, notifications and the operators'
// routes let another customer do.
func tokenAttacks(t *testing.T, sys *Shop, victimOrderID string) []Refusal {
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

	var refusals []Refusal
	// Without a token, no route but the probes answers.
	for _, r := range []struct{ method, path, body string }{
		{"POST", "/orders", anOrder}, {"GET", orderPath, ""}, {"POST", cancelPath, ""},
		{"GET", history, ""}, {"GET", "/items", ""}, {"GET", "/items/SKU-1", ""},
		{"POST", "/items/SKU-1/restock", `{"quantity":1}`}, {"GET", "/deadletters", ""}, {"POST", "/deadletters/x/redrive", ""},
		{"POST", "/notifications/credentials", `{"publicKey":"` + userPublicKey(t) + `"}`},
	} {
		// Named by route, not by the victim's order id: the same name in
		// every run, which a comparison of two runs matches up.
		route := strings.ReplaceAll(r.path, victimOrderID, "{id}")
		refusals = append(refusals, Refusal{Name: "no token: " + r.method + " " + route, Method: r.method, Path: r.path,
			ContentType: ContentTypeJSON, Body: r.body, Header: http.Header{"Authorization": nil}, WantStatus: 401, WantCode: "unauthorized"})
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
		refusals = append(refusals, Refusal{Name: "token " + f.name, Method: "GET", Path: orderPath,
			Header: bearer(f.token), WantStatus: 401, WantCode: "unauthorized"})
	}
	refusals = append(refusals,
		Refusal{Name: "token in Basic authentication", Method: "GET", Path: orderPath,
			Header: http.Header{"Authorization": {"Basic " + sys.Token(victimCustomer)}}, WantStatus: 401, WantCode: "unauthorized"},
		// Another customer's token: the victim's data is not found, as if
		// it did not exist; ordering in the victim's name is forbidden.
		Refusal{Name: "another customer reads the order", Method: "GET", Path: orderPath, Header: attacker, WantStatus: 404, WantCode: "not_found"},
		Refusal{Name: "another customer cancels the order", Method: "POST", Path: cancelPath, Header: attacker, WantStatus: 404, WantCode: "not_found"},
		Refusal{Name: "another customer reads the notifications", Method: "GET", Path: history, Header: attacker, WantStatus: 404, WantCode: "not_found"},
		Refusal{Name: "another customer orders in the victim's name", Method: "POST", Path: "/orders", ContentType: ContentTypeJSON,
			Body: `{"customerId":"` + victimCustomer + `","items":[{"sku":"SKU-1","quantity":1}]}`, Header: attacker, WantStatus: 403, WantCode: "forbidden"},
		Refusal{Name: "another customer asks for NATS credentials in the victim's name", Method: "POST", Path: "/notifications/credentials", ContentType: ContentTypeJSON,
			Body: `{"publicKey":"` + userPublicKey(t) + `","customerId":"` + victimCustomer + `"}`, Header: attacker, WantStatus: 403, WantCode: "forbidden"},
		Refusal{Name: "NATS credentials for a key that is not a user's", Method: "POST", Path: "/notifications/credentials", ContentType: ContentTypeJSON,
			Body: `{"publicKey":"` + sys.NATS.Auth.Account + `"}`, Header: attacker, WantStatus: 400, WantCode: "invalid_request"},
		Refusal{Name: "NATS credentials for a user's key with a trailing newline", Method: "POST", Path: "/notifications/credentials", ContentType: ContentTypeJSON,
			Body: fmt.Sprintf(`{"publicKey":%q}`, userPublicKey(t)+"\n"), Header: attacker, WantStatus: 400, WantCode: "invalid_request"},
		// A customer's token on the operators' routes.
		Refusal{Name: "a customer restocks", Method: "POST", Path: "/items/SKU-1/restock", ContentType: ContentTypeJSON, Body: `{"quantity":1}`, Header: attacker, WantStatus: 403, WantCode: "forbidden"},
		Refusal{Name: "a customer lists dead letters", Method: "GET", Path: "/deadletters", Header: attacker, WantStatus: 403, WantCode: "forbidden"},
		Refusal{Name: "a customer redrives a dead letter", Method: "POST", Path: "/deadletters/x/redrive", Header: attacker, WantStatus: 403, WantCode: "forbidden"},
		Refusal{Name: "a customer whose role is Operator, capitalised", Method: "POST", Path: "/items/SKU-1/restock", ContentType: ContentTypeJSON, Body: `{"quantity":1}`,
			Header: bearer(sys.Issuer.Token(attackerCustomer, "Operator")), WantStatus: 403, WantCode: "forbidden"},
	)
	return refusals
}

// claimAttacks are tokens the issuer signed whose claims a lenient reader
// takes for more than they say: a name in another case, a name twice, a
// value of another type (an identity provider that puts anything a user
// chose into a claim signs such tokens). Read exactly, none is the
// victim's or an operator's.
func claimAttacks(sys *Shop, victimOrderID string) []Refusal {
	own, err := json.Marshal(sys.Issuer.Claims(attackerCustomer))
	if err != nil {
		panic(err) // the claims' types all marshal
	}
	sub := fmt.Sprintf(`"sub":%q`, attackerCustomer)
	signed := func(old, new string) http.Header {
		payload := strings.Replace(string(own), old, new, 1)
		return http.Header{"Authorization": {"Bearer " + sys.Issuer.SignPayload(payload)}}
	}
	asString := func(claim string) http.Header {
		c := regexp.MustCompile(`"` + claim + `":(\d+)`)
		payload := c.ReplaceAllString(string(own), `"`+claim+`":"$1"`)
		return http.Header{"Authorization": {"Bearer " + sys.Issuer.SignPayload(payload)}}
	}
	orderPath := "/orders/" + victimOrderID
	restock := func(name string, header http.Header, status int, code string) Refusal {
		return Refusal{Name: "a token whose " + name + " restocks", Method: "POST", Path: "/items/SKU-1/restock", ContentType: ContentTypeJSON,
			Body: `{"quantity":1}`, Header: header, WantStatus: status, WantCode: code}
	}
	read := func(name string, header http.Header) Refusal {
		return Refusal{Name: "a token whose " + name + " reads the victim's order", Method: "GET", Path: orderPath,
			Header: header, WantStatus: 401, WantCode: "unauthorized"}
	}
	return []Refusal{
		restock("claim Roles lists operator", signed(sub, sub+`,"Roles":["operator"]`), 403, "forbidden"),
		restock("claim ROLES lists operator", signed(sub, sub+`,"ROLES":["operator"]`), 403, "forbidden"),
		restock("roles are customer's, then ROLES operator's", signed(sub, sub+`,"roles":["customer"],"ROLES":["operator"]`), 403, "forbidden"),
		restock("roles are the string operator", signed(sub, sub+`,"roles":"operator"`), 401, "unauthorized"),
		restock("roles claim is there twice, operator last", signed(sub, sub+`,"roles":[],"roles":["operator"]`), 401, "unauthorized"),
		read("subject is Sub, the victim", signed(sub, fmt.Sprintf(`"Sub":%q`, victimCustomer))),
		read("sub is there twice, the victim last", signed(sub, sub+fmt.Sprintf(`,"sub":%q`, victimCustomer))),
		// Read exactly, the attacker's own: the victim's order is not found.
		{Name: "a token whose sub is the attacker's and SUB the victim's reads the victim's order", Method: "GET", Path: orderPath,
			Header: signed(sub, sub+fmt.Sprintf(`,"SUB":%q`, victimCustomer)), WantStatus: 404, WantCode: "not_found"},
		read("exp is a string", asString("exp")),
		read("iat is a string", asString("iat")),
	}
}

// forgedTokens are the victim's claims signed by keys not the issuer's,
// under the key ids that made the services fetch the issuer's keys again
// before: a made-up one, the issuer's own, none.
func forgedTokens(sys *Shop) []string {
	claims := sys.Issuer.Claims(victimCustomer)
	return []string{
		authtest.Forged(claims, "made-up"),
		authtest.Forged(claims, sys.Issuer.KeyID()),
		authtest.Forged(claims, ""),
	}
}

// floodForgedTokens sends floodPerApp forged tokens to each app, 8 at a
// time: every one must be refused (401), and (keyFetches) none may make
// the app fetch the issuer's keys more than once per interval.
func floodForgedTokens(t *testing.T, sc *report.ScenarioRecorder, sys *Shop, victimOrderID string) {
	t.Helper()
	forged := forgedTokens(sys)
	for _, app := range []struct{ id, path string }{
		{"order", "/orders/" + victimOrderID}, {"inventory", "/items/SKU-1"}, {"notification", "/notifications"},
	} {
		url := sys.App(t, app.id).URL + app.path
		var next atomic.Int64
		var mu sync.Mutex
		answers := map[string]int{} // each answer (a status, or an error), and how often
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for i := next.Add(1); i <= floodPerApp; i = next.Add(1) {
					status, err := sys.As(forged[i%int64(len(forged))]).TryCall(http.MethodGet, url, "", nil)
					answer := strconv.Itoa(status)
					if err != nil {
						answer = err.Error()
					}
					mu.Lock()
					answers[answer]++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		sc.Check(fmt.Sprintf("refused: a flood of %d forged tokens to %s", floodPerApp, app.id), answers["401"] == floodPerApp,
			fmt.Sprintf("401 %d times", floodPerApp), fmt.Sprintf("answers and their counts: %v", answers))
	}
}

// floodPerApp is how many forged tokens floodForgedTokens sends each app.
const floodPerApp = 300

// keyFetches watches how often the issuer's keys are fetched: each app
// (one process each) may fetch them at most once per
// auth.DefaultRefetchInterval, whatever its clients send.
type keyFetches struct {
	sys   *Shop
	since time.Time
	count int
}

func watchKeyFetches(sys *Shop) *keyFetches {
	return &keyFetches{sys: sys, since: time.Now(), count: sys.Issuer.KeyFetches()}
}

// check checks the fetches since the watch began (during what, for the
// invariant's name) against their bound.
func (k *keyFetches) check(sc *report.ScenarioRecorder, during string) {
	elapsed := time.Since(k.since)
	perApp := 1 + int(elapsed/auth.DefaultRefetchInterval)
	bound := len(k.sys.Apps) * perApp
	got := k.sys.Issuer.KeyFetches() - k.count
	sc.Check("the issuer's keys fetched at most once per app per interval during "+during, got <= bound,
		fmt.Sprintf("at most %d (%d apps, %d each in %s)", bound, len(k.sys.Apps), perApp, elapsed.Round(time.Second)), fmt.Sprintf("%d fetches", got))
}

// keyRotation rotates the issuer's key, as an identity provider does, and
// checks that each app accepts a token of the new key within the
// interval, after one fetch of the keys at most.
func keyRotation(t *testing.T, sc *report.ScenarioRecorder, sys *Shop, victimOrderID string) {
	t.Helper()
	fetches := watchKeyFetches(sys)
	sys.Issuer.Rotate()
	ctx, cancel := context.WithTimeout(t.Context(), auth.DefaultRefetchInterval+15*time.Second)
	defer cancel()
	as := sys.As(sys.Token(victimCustomer))
	for _, app := range []struct{ id, path string }{
		{"order", "/orders/" + victimOrderID}, {"inventory", "/items/SKU-1"}, {"notification", "/notifications"},
	} {
		start := time.Now()
		observed := "200"
		if err := system.WaitHTTPThrough(ctx, as.Do, sys.App(t, app.id).URL+app.path, http.StatusOK); err != nil {
			observed = err.Error()
		}
		sc.Check("a token of the issuer's rotated key accepted by "+app.id+" within the interval", observed == "200",
			fmt.Sprintf("200 within %s", auth.DefaultRefetchInterval), fmt.Sprintf("%s after %s", observed, time.Since(start).Round(time.Second)))
	}
	got := sys.Issuer.KeyFetches() - fetches.count
	sc.Check("the rotated key fetched once per app", got <= len(sys.Apps),
		fmt.Sprintf("at most %d fetches", len(sys.Apps)), fmt.Sprintf("%d fetches", got))
}

// userPublicKey is the public key of a fresh NATS user key.
func userPublicKey(t *testing.T) string {
	t.Helper()
	pub, err := newNATSUser(t).PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// standardMethods are the method labels a request series may have.
var standardMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE", "OTHER"}

// requestMethods returns the method label of every request series on
// order's /metrics.
func requestMethods(t *testing.T, sys *Shop) []string {
	t.Helper()
	samples, err := system.Samples(HTTPClient, sys.App(t, "order").URL+"/metrics")
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

// ContentTypeJSON is the content type of every JSON body the apps take.
const ContentTypeJSON = "application/json"

// requestAttacks are the attacks on what a request carries (ids, bodies,
// methods), each with the refusal it is due; they need no order of their
// own.
func requestAttacks() []Refusal {
	// postJSON POSTs body to path as JSON; postOrder to /orders.
	postJSON := func(name, path, body string, status int, code string) Refusal {
		return Refusal{Name: name, Method: http.MethodPost, Path: path, ContentType: ContentTypeJSON, Body: body, WantStatus: status, WantCode: code}
	}
	postOrder := func(name, body string, status int, code string) Refusal {
		return postJSON(name, "/orders", body, status, code)
	}
	get := func(name, path string, status int, code string) Refusal {
		return Refusal{Name: name, Method: http.MethodGet, Path: path, WantStatus: status, WantCode: code}
	}
	keyed := func(r Refusal, key string) Refusal {
		r.Header = http.Header{"Idempotency-Key": {key}}
		return r
	}
	order := func(body string) string {
		return `{"customerId":"c-1","items":[{"sku":"SKU-1","quantity":1}]` + body + `}`
	}
	nested := strings.Repeat("[", 10_000) + strings.Repeat("]", 10_000)
	refusals := []Refusal{
		// Ids that would reach a NATS subject or a state key.
		postOrder("customer id that splits its NATS subject (a.b)",
			`{"customerId":"a.b","items":[{"sku":"SKU-1","quantity":1}]}`, 400, "invalid_request"),
		postOrder("customer id with an empty subject token (a.)",
			`{"customerId":"a.","items":[{"sku":"SKU-1","quantity":1}]}`, 400, "invalid_request"),
		postOrder("customer id with NATS wildcards (a.>)",
			`{"customerId":"a.>","items":[{"sku":"SKU-1","quantity":1}]}`, 400, "invalid_request"),
		postOrder("customer id with Dapr's key separator",
			`{"customerId":"a||b","items":[{"sku":"SKU-1","quantity":1}]}`, 400, "invalid_request"),
		postOrder("customer id with a NUL",
			`{"customerId":"c\u0000","items":[{"sku":"SKU-1","quantity":1}]}`, 400, "invalid_request"),
		postOrder("sku with a unicode lookalike hyphen",
			`{"customerId":"c-1","items":[{"sku":"SKU‐1","quantity":1}]}`, 400, "invalid_request"),
		postOrder("sku with Dapr's key separator",
			`{"customerId":"c-1","items":[{"sku":"SKU||1","quantity":1}]}`, 400, "invalid_request"),
		keyed(postOrder("Idempotency-Key with Dapr's key separator", order(""), 400, "invalid_request"), "a||b"),
		keyed(postOrder("Idempotency-Key too long", order(""), 400, "invalid_request"), strings.Repeat("k", 129)),
		get("history of a subject wildcard", "/notifications?customerId=c.%3E", 400, "invalid_request"),
		get("history of a split subject", "/notifications?customerId=c.1", 400, "invalid_request"),
		get("history with Dapr's key separator", "/notifications?customerId=c%7C%7C1", 400, "invalid_request"),
		get("order id with Dapr's key separator", "/orders/a%7C%7Cb", 404, "not_found"),
		postJSON("an order POSTed to /orders/", "/orders/",
			order(""), 404, "not_found"),
		get("path traversal", "/orders/..%2f..%2fetc%2fpasswd", 404, "not_found"),
		get("an order id of 10,000 characters", "/orders/"+strings.Repeat("o", 10_000), 404, "not_found"),
		postJSON("sku path traversal on restock", "/items/..%2fSKU-1/restock",
			`{"quantity":1}`, 404, "not_found"),
		// Bodies.
		postOrder("body over the limit",
			order(`,"pad":"`+strings.Repeat("x", 100<<10)+`"`), 413, "body_too_large"),
		postOrder("deeply nested JSON",
			`{"customerId":"c-1","items":`+nested+`}`, 400, "malformed_json"),
		postOrder("two JSON values",
			order("")+order(""), 400, "malformed_json"),
		postOrder("an array, not an order",
			`[]`, 400, "malformed_json"),
		postOrder("unknown field",
			order(`,"status":"confirmed"`), 400, "malformed_json"),
		postOrder("quantity beyond int64",
			`{"customerId":"c-1","items":[{"sku":"SKU-1","quantity":1e300}]}`, 400, "malformed_json"),
		postOrder("negative quantity",
			`{"customerId":"c-1","items":[{"sku":"SKU-1","quantity":-1}]}`, 400, "invalid_request"),
		postOrder("fractional quantity",
			`{"customerId":"c-1","items":[{"sku":"SKU-1","quantity":0.5}]}`, 400, "malformed_json"),
		postOrder("quantity as a string",
			`{"customerId":"c-1","items":[{"sku":"SKU-1","quantity":"1"}]}`, 400, "malformed_json"),
		postOrder("51 lines",
			`{"customerId":"c-1","items":[`+lines(51)+`]}`, 400, "invalid_request"),
		postJSON("restock of a trillion", "/items/SKU-1/restock",
			`{"quantity":1000000000000}`, 400, "invalid_request"),
		postOrder("customer id twice (which one is acted on?)",
			`{"customerId":"c-1","items":[{"sku":"SKU-1","quantity":1}],"customerId":"c-2"}`, 400, "malformed_json"),
		postOrder("customer id in another case",
			`{"CustomerID":"c-1","items":[{"sku":"SKU-1","quantity":1}]}`, 400, "malformed_json"),
		postOrder("customer id and its case variant",
			`{"customerId":"c-1","CUSTOMERID":"c-2","items":[{"sku":"SKU-1","quantity":1}]}`, 400, "malformed_json"),
		postJSON("quantity twice on restock", "/items/SKU-1/restock",
			`{"quantity":1,"quantity":900000}`, 400, "malformed_json"),
		postOrder("customer id in invalid UTF-8",
			"{\"customerId\":\"c-\xff\",\"items\":[{\"sku\":\"SKU-1\",\"quantity\":1}]}", 400, "malformed_json"),
		{Name: "JSON sent as a form", Method: "POST", Path: "/orders", ContentType: "application/x-www-form-urlencoded", Body: order(""), WantStatus: 415, WantCode: "unsupported_media_type"},
		// Methods.
		{Name: "TRACE", Method: "TRACE", Path: "/orders", WantStatus: 405, WantCode: "method_not_allowed"},
		{Name: "a made-up method", Method: "FOO", Path: "/orders", WantStatus: 405, WantCode: "method_not_allowed"},
	}
	for i := range 50 {
		refusals = append(refusals, Refusal{Name: fmt.Sprintf("made-up method BREW%d", i), Method: fmt.Sprintf("BREW%d", i),
			Path: fmt.Sprintf("/nowhere/%d", i), WantStatus: 404, WantCode: "not_found"})
	}
	return refusals
}

// Refusal is a request the shop must refuse, and how.
type Refusal struct {
	Name, Method, Path, ContentType, Body string
	// header is sent besides the content type. Without an Authorization
	// header the request carries an operator's token (Shop.Do); with an
	// empty one, none (Anonymous).
	Header     http.Header
	WantStatus int
	WantCode   string
}

// RefuseAll sends each request to the app its path belongs to (/items to
// inventory, /notifications and /deadletters to notification, the rest to
// order), and checks, as an invariant each, that it was refused as due:
// the status and the error code of the one error shape.
func RefuseAll(t *testing.T, sc *report.ScenarioRecorder, sys *Shop, refusals []Refusal) {
	t.Helper()
	for _, r := range refusals {
		app := sys.App(t, "order")
		switch {
		case strings.HasPrefix(r.Path, "/items"):
			app = sys.App(t, "inventory")
		case strings.HasPrefix(r.Path, "/notifications"), strings.HasPrefix(r.Path, "/deadletters"):
			app = sys.App(t, "notification")
		}
		req, err := http.NewRequest(r.Method, app.URL+r.Path, strings.NewReader(r.Body))
		if err != nil {
			t.Fatal(err)
		}
		maps.Copy(req.Header, r.Header)
		if r.ContentType != "" {
			req.Header.Set("Content-Type", r.ContentType)
		}
		observed := ""
		resp, err := sys.Do(req)
		if err != nil {
			observed = err.Error()
		} else {
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var body struct {
				Error struct{ Code, Message string }
			}
			if err := json.Unmarshal(data, &body); err != nil {
				observed = fmt.Sprintf("%d, not the JSON error shape: %.200s", resp.StatusCode, data)
			} else {
				observed = fmt.Sprintf("%d %s (%s)", resp.StatusCode, body.Error.Code, body.Error.Message)
			}
		}
		want := fmt.Sprintf("%d %s", r.WantStatus, r.WantCode)
		sc.Check("refused: "+r.Name, strings.HasPrefix(observed, want+" ("), want, observed)
	}
}

// CheckUnchanged checks that the state store holds what it held in before,
// byte for byte. A key gone that was to expire by then (a notification's
// claim, its TTL run out) was not changed by anyone: the store deleted it,
// as it was told to when the key was written.
func CheckUnchanged(t *testing.T, sc *report.ScenarioRecorder, sys *Shop, before StoreSnapshot) {
	t.Helper()
	after := Snapshot(t, sys.Store)
	var changed []string
	for k, v := range after.records {
		if before.records[k].Serialized != v.Serialized {
			changed = append(changed, k)
		}
	}
	for k, v := range before.records {
		if _, ok := after.records[k]; !ok && (v.Expires.IsZero() || v.Expires.After(after.taken)) {
			changed = append(changed, k+" (deleted)")
		}
	}
	sc.Check("state store unchanged byte for byte", len(changed) == 0,
		fmt.Sprintf("the same %d keys and values, but those expired", len(before.records)), fmt.Sprintf("changed: %v", changed))
}

// StoreSnapshot is every record of a state store (system.Store.Records)
// and when it was taken.
type StoreSnapshot struct {
	records map[string]system.Record
	taken   time.Time
}

// Snapshot returns every record store holds.
func Snapshot(t *testing.T, store system.Store) StoreSnapshot {
	t.Helper()
	s := StoreSnapshot{taken: time.Now()}
	records, err := store.Records(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(records) == 0 {
		t.Fatal("the state store holds no records: nothing to compare")
	}
	s.records = records
	return s
}
