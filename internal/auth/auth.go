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
	"encoding/json"
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
// for daprshop, not from the issuer, not signed by one of its keys, or
// whose claims are not exactly of the shape daprshop reads (claims).
var ErrUnauthenticated = errors.New("unauthenticated")

// ErrIssuerUnavailable is an issuer whose discovery document could not be
// read: no token can be verified until it can.
var ErrIssuerUnavailable = errors.New("issuer unavailable")

// Options tune a Verifier; the zero Options are production's.
type Options struct {
	// RefetchInterval is the least time between two fetches of the
	// issuer's discovery document, and between two of its keys
	// (DefaultRefetchInterval when zero).
	RefetchInterval time.Duration
	// Fetches counts every fetch from the issuer, of either (a metric).
	Fetches Counter
	// Now is the clock tokens' times and the interval are read on
	// (time.Now when nil).
	Now func() time.Time
}

// Verifier verifies the tokens of one issuer for one audience.
type Verifier struct {
	issuer, audience string
	client           *http.Client
	now              func() time.Time
	// discovery and keys limit the fetches of the discovery document
	// (until one succeeds) and of the keys, each to one per interval.
	discovery, keys *fetchLimit

	mu     sync.Mutex
	tokens *oidc.IDTokenVerifier // nil until the issuer's discovery document was read
}

// NewVerifier returns a Verifier of tokens issued by issuer (the URL its
// OpenID Connect discovery document lives under) for audience. It reads
// the discovery document at the first token, and again at a later one
// while that fails, so that a service starts and answers its probes while
// its issuer is still on its way up.
func NewVerifier(issuer, audience string, o Options) *Verifier {
	if o.RefetchInterval == 0 {
		o.RefetchInterval = DefaultRefetchInterval
	}
	if o.Fetches == nil {
		o.Fetches = noCounter{}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	limit := func() *fetchLimit { return &fetchLimit{interval: o.RefetchInterval, now: o.Now, fetches: o.Fetches} }
	return &Verifier{
		issuer: issuer, audience: audience, now: o.Now,
		client:    &http.Client{Timeout: 10 * time.Second},
		discovery: limit(), keys: limit(),
	}
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
	var payload json.RawMessage
	if err := token.Claims(&payload); err != nil {
		return Principal{}, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	c, err := decodeClaims(payload, v.issuer, v.audience)
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	// The subject names the customer in state keys and in the NATS
	// subject of its notifications: it must have the shape of every id.
	if !ids.Valid(c.Subject) {
		return Principal{}, fmt.Errorf("%w: subject %q: %s", ErrUnauthenticated, c.Subject, ids.Rule)
	}
	return Principal{Subject: c.Subject, Operator: slices.Contains(c.Roles, OperatorRole)}, nil
}

// verifier returns the token verifier, reading the issuer's discovery
// document first if it has not been read yet (and was not tried less than
// the interval ago).
func (v *Verifier) verifier(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.tokens != nil {
		return v.tokens, nil
	}
	err := v.discovery.Do(func() error {
		discoverCtx, cancel := context.WithTimeout(oidc.ClientContext(context.Background(), v.client), 10*time.Second)
		defer cancel()
		stop := context.AfterFunc(ctx, cancel) // the request's end ends the wait too
		defer stop()
		provider, err := oidc.NewProvider(discoverCtx, v.issuer)
		if err != nil {
			return err
		}
		var doc struct {
			KeysURL string `json:"jwks_uri"`
		}
		if err := provider.Claims(&doc); err != nil || doc.KeysURL == "" {
			return fmt.Errorf("discovery document names no jwks_uri (%v)", err)
		}
		keys := &keySet{url: doc.KeysURL, client: v.client, limit: v.keys}
		v.tokens = oidc.NewVerifier(v.issuer, keys, &oidc.Config{ClientID: v.audience, SupportedSigningAlgs: SigningAlgs, Now: v.now})
		return nil
	})
	if v.tokens == nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrIssuerUnavailable, v.issuer, err)
	}
	return v.tokens, nil
}
