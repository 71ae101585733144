package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// DefaultRefetchInterval is the least time between two fetches of the
// issuer's documents, whatever clients send: a key rotation at the issuer
// is picked up at most this long after the first token signed with the new
// key arrives, and a flood of forged tokens costs the issuer at most one
// fetch per interval from each replica of each service.
const DefaultRefetchInterval = 15 * time.Second

// maxKeySetBytes bounds the issuer's key set read into memory; a real one
// is a few kilobytes.
const maxKeySetBytes = 1 << 20

// errKeyUnknown is a token whose key the issuer does not publish, as far
// as the last fetch of its keys knows.
var errKeyUnknown = errors.New("signed by no key the issuer publishes")

// keySet is the issuer's signing keys (its JSON Web Key Set), kept in
// memory and fetched again only when a token names a key it lacks, and
// then at most once per interval. It is the key set go-oidc verifies
// signatures with (an oidc.KeySet): go-oidc's own (RemoteKeySet) fetches
// the keys again after every signature that fails, so anyone who sends
// forged tokens makes the service hammer its identity provider, which may
// then throttle it, also when a genuinely rotated key needs fetching.
//
// A token whose key id the cache knows is verified against that key alone:
// if the signature fails, the token is forged, and no fetch can change
// that (an issuer never reuses a key id for another key). A token naming
// an unknown key id, or none that any known key verifies, may be signed
// with a new key: that is what a fetch is for.
type keySet struct {
	url    string
	client *http.Client
	limit  *fetchLimit

	mu   sync.RWMutex
	keys []jose.JSONWebKey
}

// VerifySignature returns the payload of raw, a JWS the IDTokenVerifier
// parsed already (with the algorithms it allows), if one of the issuer's
// keys signed it.
func (s *keySet) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	jws, err := jose.ParseSigned(raw, signatureAlgorithms())
	if err != nil {
		return nil, fmt.Errorf("malformed jwt: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("not signed once")
	}
	kid := jws.Signatures[0].Header.KeyID
	if payload, known, err := s.verify(jws, kid); known {
		return payload, err
	}
	if err := s.refresh(ctx); err != nil {
		return nil, err
	}
	if payload, known, err := s.verify(jws, kid); known {
		return payload, err
	}
	return nil, fmt.Errorf("key %q: %w", kid, errKeyUnknown)
}

// verify checks jws against the cached key named kid, or against each
// cached key when kid is empty. known is whether that decided it: a key
// named kid is cached, or (no kid) one of the keys verified it.
func (s *keySet) verify(jws *jose.JSONWebSignature, kid string) (payload []byte, known bool, err error) {
	s.mu.RLock()
	keys := s.keys
	s.mu.RUnlock()
	for _, key := range keys {
		if kid != "" && key.KeyID != kid {
			continue
		}
		payload, err := jws.Verify(&key)
		if err == nil {
			return payload, true, nil
		}
		if kid != "" {
			return nil, true, fmt.Errorf("key %q: %w", kid, err)
		}
	}
	return nil, false, nil
}

// refresh fetches the keys again, unless they were fetched less than the
// interval ago (perhaps by the request this one waited for): then the
// cache stays what it is.
func (s *keySet) refresh(ctx context.Context) error {
	return s.limit.Do(func() error {
		keys, err := fetchKeys(ctx, s.client, s.url)
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.keys = keys
		s.mu.Unlock()
		return nil
	})
}

// fetchKeys reads the key set published at url. Keys of a kind go-jose
// does not know, and keys for encryption, are left out rather than failing
// the set: an identity provider may publish those beside its signing keys.
func fetchKeys(ctx context.Context, client *http.Client, url string) ([]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: keys: %w", ErrIssuerUnavailable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxKeySetBytes))
	if err != nil {
		return nil, fmt.Errorf("%w: keys: %w", ErrIssuerUnavailable, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: keys: %s", ErrIssuerUnavailable, resp.Status)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("%w: keys: %w", ErrIssuerUnavailable, err)
	}
	var keys []jose.JSONWebKey
	for _, raw := range set.Keys {
		var key jose.JSONWebKey
		if err := key.UnmarshalJSON(raw); err != nil || !key.Valid() || !key.IsPublic() || key.Use == "enc" {
			continue
		}
		keys = append(keys, key)
	}
	return keys, nil
}

// fetchLimit lets a fetch from the issuer run at most once per interval,
// one at a time: a caller that finds one running waits for it, then finds
// the interval not over and returns with the fetch's result in the cache.
type fetchLimit struct {
	interval time.Duration
	now      func() time.Time
	fetches  Counter

	mu   sync.Mutex // held through a fetch
	last time.Time  // when the last fetch started; zero before the first
	err  error      // what the last fetch failed with, nil if it did not
}

// Do runs fetch unless a fetch started less than the interval ago, and
// returns what the last fetch failed with.
func (l *fetchLimit) Do(fetch func() error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now := l.now(); l.last.IsZero() || now.Sub(l.last) >= l.interval {
		l.last = now
		l.fetches.Inc()
		l.err = fetch()
	}
	return l.err
}

// Counter counts events (a prometheus.Counter is one).
type Counter interface{ Inc() }

type noCounter struct{}

func (noCounter) Inc() {}

func signatureAlgorithms() []jose.SignatureAlgorithm {
	algs := make([]jose.SignatureAlgorithm, len(SigningAlgs))
	for i, alg := range SigningAlgs {
		algs[i] = jose.SignatureAlgorithm(alg)
	}
	return algs
}
