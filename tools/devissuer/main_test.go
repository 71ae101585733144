package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/daprshop/daprshop/internal/auth"
	"github.com/daprshop/daprshop/internal/auth/authtest"
)

// The tokens handed out are ones the services accept, for the customer or
// the operator asked for; anything else asked is refused.
func TestTokens(t *testing.T) {
	issuer := authtest.Start(t, "127.0.0.1:0")
	tokens := httptest.NewServer(tokenHandler(issuer))
	defer tokens.Close()
	verifier := auth.NewVerifier(issuer.URL, authtest.Audience, auth.Options{})
	for _, tc := range []struct {
		query                string
		wantStatus           int
		wantSubject          string
		wantOperator, wantOK bool
	}{
		{"customer=c-1", http.StatusOK, "c-1", false, true},
		{"role=operator", http.StatusOK, "operator", true, true},
		{"role=operator&customer=c-2", http.StatusOK, "c-2", true, true},
		{"", http.StatusBadRequest, "", false, false},
		{"customer=a%20b", http.StatusBadRequest, "", false, false},
		{"role=admin&customer=c-1", http.StatusBadRequest, "", false, false},
	} {
		resp, err := http.Get(tokens.URL + "/token?" + tc.query)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.wantStatus {
			t.Errorf("?%s: %d %s, want %d", tc.query, resp.StatusCode, body, tc.wantStatus)
			continue
		}
		if !tc.wantOK {
			continue
		}
		p, err := verifier.Verify(t.Context(), strings.TrimSpace(string(body)))
		if err != nil || p.Subject != tc.wantSubject || p.Operator != tc.wantOperator {
			t.Errorf("?%s: a token for %+v (%v), want subject %s, operator %t", tc.query, p, err, tc.wantSubject, tc.wantOperator)
		}
	}
}

// Neither address may be one another machine reaches.
func TestLoopbackOnly(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:8089", "localhost"} {
		if ln, err := listenLoopback(addr); err == nil {
			ln.Close()
			t.Errorf("listenLoopback(%q): no error", addr)
		}
	}
	ln, err := listenLoopback("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
}
