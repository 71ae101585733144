package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
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
	verifier := auth.NewVerifier(issuer.URL, authtest.Audience, auth.Options{})
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

// FuzzVerifyClaims has the issuer sign whatever claims the fuzzer makes
// (names in other cases, names twice, values of other types), starting
// from a customer's claims and the attacks of
// TestVerifyReadsClaimsExactly: what a lenient reader would take for
// something else. Every refusal must be ErrUnauthenticated, and what is
// accepted must say exactly what the claims say, read as JSON with no
// guessing: no name twice, one "sub" naming the subject, "exp" a number,
// and the operator only from a "roles" that lists it.
func FuzzVerifyClaims(f *testing.F) {
	issuer := authtest.Start(f, "127.0.0.1:0")
	verifier := auth.NewVerifier(issuer.URL, authtest.Audience, auth.Options{})
	valid, err := json.Marshal(issuer.Claims("c-1", auth.OperatorRole))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(valid))
	for _, edit := range [][2]string{
		{`"sub":"c-1"`, `"Sub":"c-1"`},
		{`"sub":"c-1"`, `"sub":"c-1","sub":"c-2"`},
		{`"roles":["operator"]`, `"Roles":["operator"]`},
		{`"roles":["operator"]`, `"roles":["customer"],"ROLES":["operator"]`},
		{`"roles":["operator"]`, `"roles":"operator"`},
		{`"exp":`, `"exp":"1","x":`},
		{`"iss":`, `"ISS":`},
	} {
		f.Add(strings.Replace(string(valid), edit[0], edit[1], 1))
	}
	f.Fuzz(func(t *testing.T, payload string) {
		got, err := verifier.Verify(context.Background(), issuer.SignPayload(payload))
		if err != nil {
			if !errors.Is(err, auth.ErrUnauthenticated) {
				t.Errorf("refused as %v, want ErrUnauthenticated", err)
			}
			return
		}
		members, ok := topLevelMembers(payload)
		if !ok {
			t.Fatalf("accepted %q as %+v: not a JSON object", payload, got)
		}
		seen := map[string]bool{}
		for _, m := range members {
			if seen[m.name] {
				t.Fatalf("accepted %q as %+v: %q twice", payload, got, m.name)
			}
			seen[m.name] = true
		}
		var sub string
		if err := json.Unmarshal(members.get("sub"), &sub); err != nil || sub != got.Subject {
			t.Errorf("accepted %q as %+v: its sub is %s", payload, got, members.get("sub"))
		}
		if exp := members.get("exp"); len(exp) == 0 || exp[0] == '"' {
			t.Errorf("accepted %q as %+v: its exp is %s, not a number", payload, got, exp)
		}
		var roles []string
		_ = json.Unmarshal(members.get("roles"), &roles)
		if got.Operator != slices.Contains(roles, auth.OperatorRole) {
			t.Errorf("accepted %q as %+v: its roles are %s", payload, got, members.get("roles"))
		}
	})
}

// member is a name of a JSON object and its value, as written.
type member struct {
	name  string
	value json.RawMessage
}

type members []member

// get is the value of the member named name exactly (nil for none).
func (ms members) get(name string) json.RawMessage {
	for _, m := range ms {
		if m.name == name {
			return m.value
		}
	}
	return nil
}

// topLevelMembers lists the members of the JSON object s, in order, every
// name as written (duplicates kept); ok is false if s is no object.
func topLevelMembers(s string) (ms members, ok bool) {
	dec := json.NewDecoder(strings.NewReader(s))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, false
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, false
		}
		ms = append(ms, member{name: tok.(string), value: value})
	}
	return ms, true
}
