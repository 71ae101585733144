// Package auth says who a request comes from. A client presents a bearer
// token: a JWT that an OpenID Connect issuer signed for daprshop. Verifier
// checks it with go-oidc (the signature against the issuer's published
// keys, the issuer, the audience, the expiry) and reads from it the one
// thing the services act on: the Principal, the customer the token was
// issued to and whether it carries the operator role.
//
// The services take the customer from the token alone, never from a
// request's body or query: what a client may name, it may name falsely.
package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/daprshop/daprshop/internal/ids"
)

// Principal is who a verified token speaks for.
type Principal struct {
	// Subject is the token's subject: the customer the caller acts as,
	// whose orders and notifications it may read and cancel.
	Subject string
	// Operator is whether the token carries OperatorRole. Operators
	// restock, handle dead letters, and act for any customer (support):
	// read and cancel their orders, read their notifications. A service
	// that authenticates nobody (development only, without an issuer)
	// takes every caller for an operator.
	Operator bool
}

// Customer is the customer a request acts for: the token's subject. A
// request that names a customer (named, "" for none) must name that one;
// ok is false when it names another. An operator acts for the customer it
// names, or for every customer when it names none (""). The zero
// Principal, a request nobody authenticated, acts for no one.
func (p Principal) Customer(named string) (customer string, ok bool) {
	switch {
	case p.Operator:
		return named, true
	case p.Subject == "", named != "" && named != p.Subject:
		return "", false
	}
	return p.Subject, true
}

type contextKey struct{}

// NewContext returns ctx carrying p, the caller of the request ctx is of.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, contextKey{}, p)
}

// FromContext returns the caller NewContext put in ctx, if any.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(contextKey{}).(Principal)
	return p, ok
}

// RolesClaim is the claim a token lists its roles in, and OperatorRole
// the role an operator's token lists. Point an identity provider's role
// mapping at this claim (Keycloak: a "User Realm Role" mapper named roles;
// Entra ID issues app roles under this name already).
const (
	RolesClaim   = "roles"
	OperatorRole = "operator"
)

// SigningAlgs are the signatures a token may carry: the asymmetric ones
// identity providers sign with. A token signed otherwise ("none", or
// HS256 with the public key as the secret) is refused before its
// signature is looked at.
var SigningAlgs = []string{oidc.RS256, oidc.ES256, oidc.PS256, oidc.EdDSA}

// ErrUnauthenticated is a token that is missing, malformed, expired, not
// for daprshop, not from the issuer, or not signed by one of its keys.
var ErrUnauthenticated = errors.New("unauthenticated")

// ErrIssuerUnavailable is an issuer whose discovery document could not be
// read: no token can be verified until it can.
var ErrIssuerUnavailable = errors.New("issuer unavailable")

// Verifier verifies the tokens of one issuer for one audience.
type Verifier struct {
	issuer, audience string
	// client carries the HTTP client the issuer's documents are fetched
	// with (go-oidc takes it from a context).
	client context.Context

	mu     sync.Mutex
	tokens *oidc.IDTokenVerifier // nil until the issuer's discovery document was read
}

// NewVerifier returns a Verifier of tokens issued by issuer (the URL its
// OpenID Connect discovery document lives under) for audience. It reads
// the discovery document at the first token, and again at the next while
// that fails, so that a service starts and answers its probes while its
// issuer is still on its way up.
func NewVerifier(issuer, audience string) *Verifier {
	client := &http.Client{Timeout: 10 * time.Second}
	return &Verifier{issuer: issuer, audience: audience, client: oidc.ClientContext(context.Background(), client)}
}

// Verify checks the raw token and returns who it speaks for. A bad token
// is ErrUnauthenticated, with the reason; an issuer that cannot be reached
// ErrIssuerUnavailable.
func (v *Verifier) Verify(ctx context.Context, raw string) (Principal, error) {
	tokens, err := v.verifier(ctx)
	if err != nil {
		return Principal{}, err
	}
	token, err := tokens.Verify(ctx, raw)
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	var claims struct {
		Roles []string `json:"roles"`
	}
	if err := token.Claims(&claims); err != nil {
		return Principal{}, fmt.Errorf("%w: claim %s: %w", ErrUnauthenticated, RolesClaim, err)
	}
	// The subject names the customer in state keys and in the NATS
	// subject of its notifications: it must have the shape of every id.
	if !ids.Valid(token.Subject) {
		return Principal{}, fmt.Errorf("%w: subject %q: %s", ErrUnauthenticated, token.Subject, ids.Rule)
	}
	return Principal{Subject: token.Subject, Operator: slices.Contains(claims.Roles, OperatorRole)}, nil
}

// verifier returns the token verifier, reading the issuer's discovery
// document first if it has not been read yet.
func (v *Verifier) verifier(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.tokens != nil {
		return v.tokens, nil
	}
	discoverCtx, cancel := context.WithTimeout(v.client, 10*time.Second)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel) // the request's end ends the wait too
	defer stop()
	provider, err := oidc.NewProvider(discoverCtx, v.issuer)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrIssuerUnavailable, v.issuer, err)
	}
	v.tokens = provider.Verifier(&oidc.Config{ClientID: v.audience, SupportedSigningAlgs: SigningAlgs})
	return v.tokens, nil
}
