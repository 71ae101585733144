// Package authtest is an OpenID Connect issuer small enough to run inside a
// test: it publishes its discovery document and its signing key over HTTP,
// as an identity provider does, and signs tokens for whatever subject and
// roles a test asks. The services verify its tokens exactly as they would a
// real provider's (auth.Verifier, go-oidc), so what the tests prove of
// authentication holds for a real provider too.
package authtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	neturl "net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/daprshop/daprshop/internal/auth"
)

// Audience is the audience the issuer's tokens are for, the services'
// AUTH_AUDIENCE.
const Audience = "daprshop"

// TokenLifetime is how long a token Token signs stays valid.
const TokenLifetime = time.Hour

// Issuer is a running issuer.
type Issuer struct {
	// URL is the issuer's identifier and where its discovery document
	// lives (URL/.well-known/openid-configuration): AUTH_ISSUER.
	URL string

	addr string
	srv  *http.Server
	done chan struct{}

	mu         sync.Mutex
	keys       []jose.JSONWebKey // private, the newest first; their public halves are published
	signer     jose.Signer       // signs with keys[0]
	keyFetches int               // GET /keys served
}

// Serve serves an issuer on ln until Close, known as url: the URL the
// services reach it at, which its tokens name as their issuer ("" for
// http://, ln's address).
func Serve(ln net.Listener, url string) (*Issuer, error) {
	if url == "" {
		url = "http://" + ln.Addr().String()
	}
	i := &Issuer{URL: url, addr: ln.Addr().String(), done: make(chan struct{})}
	i.Rotate()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]any{
			"issuer":                                i.URL,
			"jwks_uri":                              i.URL + "/keys",
			"authorization_endpoint":                i.URL + "/authorize",
			"response_types_supported":              []string{"id_token"},
			"subject_types_supported":               []string{"public"},
			"id_token_signing_alg_values_supported": []string{string(jose.ES256)},
		})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, _ *http.Request) {
		i.mu.Lock()
		i.keyFetches++
		var set jose.JSONWebKeySet
		for _, key := range i.keys {
			set.Keys = append(set.Keys, key.Public())
		}
		i.mu.Unlock()
		writeJSON(w, set)
	})
	i.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer close(i.done)
		// ErrServerClosed once Close is called; a listener that failed
		// before shows as services that cannot reach their issuer (503).
		_ = i.srv.Serve(ln)
	}()
	return i, nil
}

// Start serves an issuer on addr (host:port; port 0 for a free one) until
// the test ends: on loopback, or on an address of the test's own network
// namespace that the services can reach.
func Start(t testing.TB, addr string) *Issuer {
	t.Helper()
	return StartAs(t, addr, "")
}

// StartAs is Start for an issuer the services reach at url, not at its
// own address: behind a Kubernetes Service, say.
func StartAs(t testing.TB, addr, url string) *Issuer {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("issuer: %v", err)
	}
	i, err := Serve(ln, url)
	if err != nil {
		t.Fatalf("issuer: %v", err)
	}
	t.Cleanup(i.Close)
	return i
}

// StartAt is Start for an issuer at url (http://host:port), listening on
// that address: the one an env file names, say.
func StartAt(t testing.TB, url string) *Issuer {
	t.Helper()
	u, err := neturl.Parse(url)
	if err != nil || u.Scheme != "http" || u.Port() == "" {
		t.Fatalf("issuer %q: want http://host:port (%v)", url, err)
	}
	return StartAs(t, u.Host, url)
}

// Rotate makes a new signing key, under a new key id, and signs with it
// from now on, as an identity provider rotating its keys does; the old
// keys stay published, for the tokens they signed.
func (i *Issuer) Rotate() {
	key, signer := newKey()
	i.mu.Lock()
	defer i.mu.Unlock()
	i.keys = append([]jose.JSONWebKey{key}, i.keys...)
	i.signer = signer
}

// KeyFetches is how many times the issuer's keys were fetched.
func (i *Issuer) KeyFetches() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.keyFetches
}

// KeyID is the id of the key the issuer signs with now.
func (i *Issuer) KeyID() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.keys[0].KeyID
}

// newKey makes an ES256 key under a random key id, and its signer.
func newKey() (jose.JSONWebKey, jose.Signer) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	key := jose.JSONWebKey{Key: priv, KeyID: rand.Text(), Algorithm: string(jose.ES256), Use: "sig"}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		panic(err) // an ES256 signer of a P-256 key
	}
	return key, signer
}

// Addr is where the issuer listens, host:port.
func (i *Issuer) Addr() string { return i.addr }

// Close stops serving.
func (i *Issuer) Close() {
	_ = i.srv.Close()
	<-i.done
}

// Token signs a token for subject, with roles (auth.OperatorRole for an
// operator), for Audience, valid for TokenLifetime from now.
func (i *Issuer) Token(subject string, roles ...string) string {
	return i.Sign(i.Claims(subject, roles...))
}

// Claims are what a token says: the registered claims and the roles.
type Claims struct {
	jwt.Claims
	Roles []string `json:"roles,omitempty"`
}

// Sign signs whatever claims a test makes up (an expired token, one for
// another audience) with the issuer's key.
func (i *Issuer) Sign(c Claims) string { return signClaims(i.currentSigner(), c) }

// SignPayload signs payload as it is, whatever it is: claims no
// well-behaved library would write (a name twice, a name in another case,
// a time as a string), as an identity provider might still sign them.
func (i *Issuer) SignPayload(payload string) string { return sign(i.currentSigner(), payload) }

// currentSigner is the signer of the issuer's newest key.
func (i *Issuer) currentSigner() jose.Signer {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.signer
}

// signClaims signs c, as JSON, with signer.
func signClaims(signer jose.Signer, c Claims) string {
	payload, err := json.Marshal(c)
	if err != nil {
		panic(err) // the claims' types all marshal
	}
	return sign(signer, string(payload))
}

// sign signs payload with signer, compact.
func sign(signer jose.Signer, payload string) string {
	jws, err := signer.Sign([]byte(payload))
	if err != nil {
		panic(err) // an ECDSA or HMAC signature of bytes does not fail
	}
	token, err := jws.CompactSerialize()
	if err != nil {
		panic(err)
	}
	return token
}

// Forged is c signed by a key of the attacker's own, not the issuer's,
// its header naming key id kid ("" for none): the issuer's own key id, a
// made-up one, or none.
func Forged(c Claims, kid string) string {
	key, _ := newKey()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key.Key}, opts)
	if err != nil {
		panic(err)
	}
	return signClaims(signer, c)
}

// Claims returns the claims Token would sign for subject, for a test to
// change one of before it signs them (Sign) or forges a token of them.
func (i *Issuer) Claims(subject string, roles ...string) Claims {
	now := time.Now()
	return Claims{
		Claims: jwt.Claims{
			Issuer:   i.URL,
			Subject:  subject,
			Audience: jwt.Audience{Audience},
			IssuedAt: jwt.NewNumericDate(now),
			Expiry:   jwt.NewNumericDate(now.Add(TokenLifetime)),
		},
		Roles: roles,
	}
}

// Unsigned is c as a token with alg "none": what an attacker sends to a
// verifier that trusts a token's own header.
func Unsigned(c Claims) string {
	payload, err := json.Marshal(c)
	if err != nil {
		panic(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc(payload) + "."
}

// SignedWithSecret is c signed HS256 with a secret of the attacker's
// choosing: what an attacker sends to a verifier that takes the
// algorithm from the token.
func SignedWithSecret(c Claims) string {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("0123456789abcdef0123456789abcdef")}, nil)
	if err != nil {
		panic(err)
	}
	return signClaims(signer, c)
}

// Tampered is token with its claims changed to c, and its signature kept.
func Tampered(token string, c Claims) string {
	payload, err := json.Marshal(c)
	if err != nil {
		panic(err)
	}
	header, _, _ := strings.Cut(token, ".")
	_, signature, _ := strings.Cut(token[len(header)+1:], ".")
	return header + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + signature
}

// Operator signs an operator's token for subject.
func (i *Issuer) Operator(subject string) string { return i.Token(subject, auth.OperatorRole) }

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
