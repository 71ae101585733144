package auth_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/daprshop/daprshop/internal/auth"
	"github.com/daprshop/daprshop/internal/auth/authtest"
)

func TestVerifyTakesWhoTheTokenSaysOnlyFromAValidToken(t *testing.T) {
	issuer := authtest.Start(t, "127.0.0.1:0")
	stranger := authtest.Start(t, "127.0.0.1:0") // another issuer, another key
	v := auth.NewVerifier(issuer.URL, authtest.Audience, auth.Options{})
	claims := func(edit func(*authtest.Claims)) authtest.Claims {
		c := issuer.Claims("c-1")
		edit(&c)
		return c
	}

	for _, tc := range []struct {
		name  string
		token string
		want  auth.Principal
	}{
		{name: "a customer", token: issuer.Token("c-1"), want: auth.Principal{Subject: "c-1"}},
		{name: "an operator", token: issuer.Operator("ops-1"), want: auth.Principal{Subject: "ops-1", Operator: true}},
		{name: "other roles", token: issuer.Token("c-2", "admin", "Operator"), want: auth.Principal{Subject: "c-2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := v.Verify(t.Context(), tc.token)
			if err != nil || got != tc.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}

	for _, tc := range []struct {
		name, token, reason string
	}{
		{name: "expired", token: issuer.Sign(claims(func(c *authtest.Claims) { c.Expiry = jwt.NewNumericDate(time.Now().Add(-time.Minute)) })), reason: "expired"},
		{name: "for another audience", token: issuer.Sign(claims(func(c *authtest.Claims) { c.Audience = jwt.Audience{"another-app"} })), reason: "audience"},
		{name: "naming another issuer", token: issuer.Sign(claims(func(c *authtest.Claims) { c.Issuer = stranger.URL })), reason: "different provider"},
		{name: "signed by another issuer's key", token: stranger.Sign(claims(func(*authtest.Claims) {})), reason: "signature"},
		{name: "a subject that is no id", token: issuer.Token("c.1"), reason: "subject"},
		{name: "no subject", token: issuer.Token(""), reason: "subject"},
		{name: "unsigned (alg none)", token: authtest.Unsigned(issuer.Claims("c-1")), reason: "malformed"},
		{name: "signed with a shared secret", token: authtest.SignedWithSecret(issuer.Claims("c-1")), reason: "signature algorithm"},
		{name: "another subject, the signature kept", token: authtest.Tampered(issuer.Token("c-1"), issuer.Claims("c-2")), reason: "signature"},
		{name: "the operator role added, the signature kept", token: authtest.Tampered(issuer.Token("c-1"), issuer.Claims("c-1", auth.OperatorRole)), reason: "signature"},
		{name: "not a JWT", token: "c-1", reason: "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := v.Verify(t.Context(), tc.token)
			if !errors.Is(err, auth.ErrUnauthenticated) || got != (auth.Principal{}) {
				t.Fatalf("got %+v, %v; want ErrUnauthenticated", got, err)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("got %v; want the reason (%s) named", err, tc.reason)
			}
		})
	}
}

func TestVerifyWaitsForAnIssuerThatIsNotUpYet(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing answers there yet
	v := auth.NewVerifier("http://"+addr, authtest.Audience, auth.Options{RefetchInterval: time.Nanosecond})
	if _, err := v.Verify(t.Context(), "x.y.z"); !errors.Is(err, auth.ErrIssuerUnavailable) {
		t.Fatalf("issuer down: got %v, want ErrIssuerUnavailable", err)
	}

	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	issuer, err := authtest.Serve(ln, "")
	if err != nil {
		t.Fatal(err)
	}
	defer issuer.Close()
	if got, err := v.Verify(t.Context(), issuer.Token("c-1")); err != nil || got.Subject != "c-1" {
		t.Errorf("issuer up: got %+v, %v; want c-1", got, err)
	}
}

func TestACustomerActsForItselfAndAnOperatorForAnyone(t *testing.T) {
	customer, operator := auth.Principal{Subject: "c-1"}, auth.Principal{Subject: "ops-1", Operator: true}
	for _, tc := range []struct {
		name   string
		p      auth.Principal
		named  string
		want   string
		wantOK bool
	}{
		{"a customer naming nobody", customer, "", "c-1", true},
		{"a customer naming itself", customer, "c-1", "c-1", true},
		{"a customer naming another", customer, "c-2", "", false},
		{"an operator naming a customer", operator, "c-2", "c-2", true},
		{"an operator naming nobody: every customer", operator, "", "", true},
		{"nobody (a request not authenticated)", auth.Principal{}, "", "", false},
		{"nobody naming a customer", auth.Principal{}, "c-1", "", false},
	} {
		if got, ok := tc.p.Customer(tc.named); got != tc.want || ok != tc.wantOK {
			t.Errorf("%s: got %q, %v; want %q, %v", tc.name, got, ok, tc.want, tc.wantOK)
		}
	}
}

func TestPrincipalTravelsInTheContext(t *testing.T) {
	if _, ok := auth.FromContext(context.Background()); ok {
		t.Error("a bare context carries a principal")
	}
	want := auth.Principal{Subject: "c-1", Operator: true}
	if got, ok := auth.FromContext(auth.NewContext(context.Background(), want)); !ok || got != want {
		t.Errorf("got %+v, %v; want %+v", got, ok, want)
	}
}

// TestVerifyReadsClaimsExactly: tokens the issuer signed, whose claims a
// lenient reader (Go's encoding/json, go-oidc's) takes for something else
// than they say: a name in another case, a name twice, a time as a string.
// Each is refused or read for exactly what it says, never as an operator
// or as the victim.
func TestVerifyReadsClaimsExactly(t *testing.T) {
	issuer := authtest.Start(t, "127.0.0.1:0")
	v := auth.NewVerifier(issuer.URL, authtest.Audience, auth.Options{})
	now := time.Now().Unix()
	// registered are the claims every token below carries but those it
	// spells out itself.
	registered := fmt.Sprintf(`"iss":%q,"aud":%q,"iat":%d,"exp":%d`, issuer.URL, authtest.Audience, now, now+3600)
	payload := func(claims string) string { return "{" + registered + "," + claims + "}" }

	for _, tc := range []struct {
		name, payload string
		want          auth.Principal
	}{
		{name: "roles spelled Roles", payload: payload(`"sub":"c-1","Roles":["operator"]`), want: auth.Principal{Subject: "c-1"}},
		{name: "roles, then ROLES naming the operator", payload: payload(`"sub":"c-1","roles":["customer"],"ROLES":["operator"]`), want: auth.Principal{Subject: "c-1"}},
		{name: "claims daprshop does not read", payload: payload(`"sub":"c-1","email":"a@example.com","azp":"web"`), want: auth.Principal{Subject: "c-1"}},
		{name: "the audience as an array", payload: fmt.Sprintf(`{"iss":%q,"aud":["x",%q],"exp":%d,"sub":"c-1"}`, issuer.URL, authtest.Audience, now+3600), want: auth.Principal{Subject: "c-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := v.Verify(t.Context(), issuer.SignPayload(tc.payload))
			if err != nil || got != tc.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}

	for _, tc := range []struct {
		name, payload, reason string
	}{
		{name: "sub spelled Sub", payload: payload(`"Sub":"c-victim"`), reason: "subject"},
		{name: "sub twice, the victim's last", payload: payload(`"sub":"c-1","sub":"c-victim"`), reason: "duplicate"},
		{name: "roles twice", payload: payload(`"sub":"c-1","roles":[],"roles":["operator"]`), reason: "duplicate"},
		{name: "a name twice in a claim of no interest", payload: payload(`"sub":"c-1","address":{"street":"a","street":"b"}`), reason: "duplicate"},
		{name: "exp as a string", payload: fmt.Sprintf(`{"iss":%q,"aud":%q,"sub":"c-1","exp":"%d"}`, issuer.URL, authtest.Audience, now+3600), reason: "exp"},
		{name: "iat as a string", payload: fmt.Sprintf(`{"iss":%q,"aud":%q,"sub":"c-1","exp":%d,"iat":"%d"}`, issuer.URL, authtest.Audience, now+3600, now), reason: "iat"},
		{name: "nbf as a string", payload: payload(fmt.Sprintf(`"sub":"c-1","nbf":"%d"`, now)), reason: "nbf"},
		{name: "no exp", payload: fmt.Sprintf(`{"iss":%q,"aud":%q,"sub":"c-1"}`, issuer.URL, authtest.Audience), reason: "exp"},
		{name: "exp spelled EXP", payload: fmt.Sprintf(`{"iss":%q,"aud":%q,"sub":"c-1","EXP":%d}`, issuer.URL, authtest.Audience, now+3600), reason: "exp"},
		{name: "iss spelled ISS", payload: fmt.Sprintf(`{"ISS":%q,"aud":%q,"sub":"c-1","exp":%d}`, issuer.URL, authtest.Audience, now+3600), reason: "iss"},
		{name: "aud spelled Aud", payload: fmt.Sprintf(`{"iss":%q,"Aud":%q,"sub":"c-1","exp":%d}`, issuer.URL, authtest.Audience, now+3600), reason: "aud"},
		{name: "sub as a number", payload: payload(`"sub":1`), reason: "sub"},
		{name: "sub null", payload: payload(`"sub":null`), reason: "subject"},
		{name: "roles as a string", payload: payload(`"sub":"c-1","roles":"operator"`), reason: "roles"},
		{name: "roles of numbers", payload: payload(`"sub":"c-1","roles":[1]`), reason: "roles"},
		{name: "aud as a number", payload: fmt.Sprintf(`{"iss":%q,"aud":7,"sub":"c-1","exp":%d}`, issuer.URL, now+3600), reason: "aud"},
		{name: "claims in invalid UTF-8", payload: payload("\"sub\":\"c-1\",\"name\":\"\xff\""), reason: "UTF-8"},
		{name: "claims that are an array", payload: `[` + payload(`"sub":"c-1"`) + `]`, reason: "claims"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := v.Verify(t.Context(), issuer.SignPayload(tc.payload))
			if !errors.Is(err, auth.ErrUnauthenticated) || got != (auth.Principal{}) {
				t.Fatalf("got %+v, %v; want ErrUnauthenticated", got, err)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("got %v; want the reason (%s) named", err, tc.reason)
			}
		})
	}
}

// clock is a test's time, moved on by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// counter is an auth.Counter a test reads.
type counter struct{ n atomic.Int64 }

func (c *counter) Inc() { c.n.Add(1) }

// TestForgedTokensFetchTheKeysAtMostOncePerInterval: tokens the issuer's
// keys do not verify (a made-up key id, the issuer's own key id with
// another key's signature, no key id) are refused, and however many and
// however fast they come, the issuer's keys are fetched at most once per
// interval; a token signed with a rotated key is accepted after at most
// one fetch, at most the interval after the last one.
func TestForgedTokensFetchTheKeysAtMostOncePerInterval(t *testing.T) {
	issuer := authtest.Start(t, "127.0.0.1:0")
	clk := &clock{now: time.Now()}
	fetches := &counter{}
	const interval = time.Minute
	v := auth.NewVerifier(issuer.URL, authtest.Audience, auth.Options{RefetchInterval: interval, Now: clk.Now, Fetches: fetches})

	if _, err := v.Verify(t.Context(), issuer.Token("c-1")); err != nil {
		t.Fatal(err)
	}
	if got := issuer.KeyFetches(); got != 1 {
		t.Fatalf("after the first token: the keys fetched %d times, want 1", got)
	}
	forged := map[string]string{
		"a made-up key id":             authtest.Forged(issuer.Claims("c-1"), "made-up"),
		"the issuer's key id":          authtest.Forged(issuer.Claims("c-1"), issuer.KeyID()),
		"no key id":                    authtest.Forged(issuer.Claims("c-1"), ""),
		"the issuer's, its sub edited": authtest.Tampered(issuer.Token("c-1"), issuer.Claims("c-2")),
	}
	flood := func() {
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 25 {
					for name, token := range forged {
						if got, err := v.Verify(t.Context(), token); !errors.Is(err, auth.ErrUnauthenticated) {
							t.Errorf("%s: got %+v, %v; want ErrUnauthenticated", name, got, err)
						}
					}
				}
			})
		}
		wg.Wait()
	}
	flood()
	if got := issuer.KeyFetches(); got != 1 {
		t.Errorf("800 forged tokens within the interval: the keys fetched %d times in all, want 1", got)
	}
	clk.Add(interval)
	flood()
	if got := issuer.KeyFetches(); got != 2 {
		t.Errorf("800 more, the interval over: the keys fetched %d times in all, want 2", got)
	}

	// The issuer rotates its key just after that fetch: a token of the
	// new key is refused until the interval is over, then accepted after
	// one fetch; the old key's tokens still verify.
	old := issuer.Token("c-1")
	issuer.Rotate()
	rotated := issuer.Token("c-1")
	if _, err := v.Verify(t.Context(), rotated); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("the rotated key's token within the interval: got %v, want refused until it is over", err)
	}
	clk.Add(interval)
	if got, err := v.Verify(t.Context(), rotated); err != nil || got.Subject != "c-1" {
		t.Errorf("the rotated key's token after the interval: got %+v, %v; want c-1", got, err)
	}
	if got := issuer.KeyFetches(); got != 3 {
		t.Errorf("after the rotation: the keys fetched %d times in all, want 3", got)
	}
	if _, err := v.Verify(t.Context(), old); err != nil {
		t.Errorf("a token of the key before the rotation: %v", err)
	}
	// Every fetch counted: the three of the keys, and the discovery's.
	if got, want := fetches.n.Load(), int64(issuer.KeyFetches()+1); got != want {
		t.Errorf("counted %d fetches, want %d", got, want)
	}
}
