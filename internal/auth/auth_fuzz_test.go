package auth_test

import (
	"context"
	"errors"
	"testing"

	"github.com/daprshop/daprshop/internal/auth"
	"github.com/daprshop/daprshop/internal/auth/authtest"
)

// FuzzVerify hands the verifier whatever a client may send as its bearer
// token, starting from a customer's valid token and the forgeries of
// TestVerifyTakesWhoTheTokenSaysOnlyFromAValidToken. It must not panic, it
// must answer every refusal as ErrUnauthenticated (never as the issuer
// being down: it is up), and what it accepts must say who the issuer
// signed for: customer c-1, not an operator. (A mutation may leave the
// token valid, such as base64's unused low bits of its last character,
// but never make it someone else's.)
func FuzzVerify(f *testing.F) {
	issuer := authtest.Start(f, "127.0.0.1:0")
	verifier := auth.NewVerifier(issuer.URL, authtest.Audience)
	f.Add(issuer.Token("c-1"))
	f.Add(authtest.Unsigned(issuer.Claims("c-1", auth.OperatorRole)))
	f.Add(authtest.SignedWithSecret(issuer.Claims("c-1", auth.OperatorRole)))
	f.Add(authtest.Tampered(issuer.Token("c-1"), issuer.Claims("c-2", auth.OperatorRole)))
	f.Add("c-1")
	f.Fuzz(func(t *testing.T, token string) {
		got, err := verifier.Verify(context.Background(), token)
		if err != nil {
			if !errors.Is(err, auth.ErrUnauthenticated) {
				t.Errorf("refused as %v, want ErrUnauthenticated", err)
			}
			return
		}
		if want := (auth.Principal{Subject: "c-1"}); got != want {
			t.Errorf("accepted %q as %+v: the issuer signed for %+v only", token, got, want)
		}
	})
}
