package auth_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/daprshop/daprshop/internal/auth"
	"github.com/daprshop/daprshop/internal/auth/authtest"
)

func TestVerifyTakesWhoTheTokenSaysOnlyFromAValidToken(t *testing.T) {
	issuer := authtest.Start(t, "127.0.0.1:0")
	stranger := authtest.Start(t, "127.0.0.1:0") // another issuer, another key
	v := auth.NewVerifier(issuer.URL, authtest.Audience)
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
	v := auth.NewVerifier("http://"+addr, authtest.Audience)
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
