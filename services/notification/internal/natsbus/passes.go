package natsbus

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
	"golang.org/x/time/rate"

	"github.com/daprshop/daprshop/internal/natstrust"
)

// ErrInvalidUserKey is a user public key that is not one, exactly: "U"
// and 55 more characters of NATS's encoding, nothing around them.
var ErrInvalidUserKey = errors.New("not a NATS user public key")

// ErrTooManyPasses is a customer issued IssueBurst credentials within the
// last few minutes already: the next comes IssueEvery after the last.
var ErrTooManyPasses = errors.New("too many NATS credentials asked for")

// What a customer's credentials allow beyond their one subject, and how
// often a customer gets new ones. A customer's client subscribes to its
// subject once per connection, publishes nothing, and needs new
// credentials once a lifetime (an hour), plus a few for reconnects and
// other devices. nats-server enforces the subscriptions and the payload on
// each connection; a user JWT can bound nothing else a client does (the
// connections a user opens are bounded only for the whole account).
const (
	// MaxSubscriptions is how many subscriptions one connection may hold:
	// the customer's subject, and one more while a client replaces it.
	MaxSubscriptions = 2
	// MaxPayload is the largest message, in bytes, a connection may
	// send: customers publish nothing (their permissions deny it), so a
	// large message is refused before nats-server reads it.
	MaxPayload = 256
	// IssueBurst credentials a customer may get at once, then one every
	// IssueEvery.
	IssueBurst = 5
	IssueEvery = time.Minute
)

// Passes issues customers their NATS credentials: a user JWT, signed with
// a signing key of the account daprshop's NATS users live in, that lets its
// holder subscribe to its customer's subject and to nothing else, and
// publish nothing. The customer's client makes its own key pair and sends
// the public half: the private one never leaves the client.
//
// This is NATS's decentralized JWT authentication: the server trusts the
// operator, which signed the account, which lists the signing key; it
// checks each connecting user's JWT against that chain and enforces the
// permissions the JWT carries. No server needs to know a customer before
// they connect.
type Passes struct {
	signer   nkeys.KeyPair // the account's signing key
	account  string        // the account's public key
	lifetime time.Duration
	now      func() time.Time

	mu sync.Mutex
	// issued holds the customers issued credentials lately, each with
	// what is left of its rate; one whose rate is whole again is as if
	// absent, and goes at the next sweep, so that the map holds only the
	// customers of the last few minutes.
	issued    map[string]*rate.Limiter
	nextSweep int // the size of issued that triggers a sweep
}

// NewPasses returns Passes that sign with the signing key whose seed is
// seed, for account (its public key, "A..."), each valid for lifetime.
func NewPasses(seed []byte, account string, lifetime time.Duration, now func() time.Time) (*Passes, error) {
	signer, err := nkeys.FromSeed(seed)
	if err != nil {
		return nil, fmt.Errorf("account signing key: %w", err)
	}
	if pub, err := signer.PublicKey(); err != nil || !nkeys.IsValidPublicAccountKey(pub) {
		return nil, errors.New("account signing key: not an account key")
	}
	if !nkeys.IsValidPublicAccountKey(account) {
		return nil, fmt.Errorf("account %q: not an account public key", account)
	}
	return &Passes{signer: signer, account: account, lifetime: lifetime, now: now,
		issued: map[string]*rate.Limiter{}, nextSweep: minSweep}, nil
}

// minSweep is the fewest customers Passes tracks before it sweeps.
const minSweep = 1024

// Issue returns a user JWT for the holder of userKey, allowed to subscribe
// to customer's subject only, within the limits above, and when it
// expires.
func (p *Passes) Issue(customer, userKey string) (string, time.Time, error) {
	if !validUserKey(userKey) {
		return "", time.Time{}, ErrInvalidUserKey
	}
	now := p.now()
	if !p.allow(customer, now) {
		return "", time.Time{}, ErrTooManyPasses
	}
	expires := now.Add(p.lifetime).Truncate(time.Second)
	token, err := natstrust.Sign(p.signer, p.account, userKey, customer, expires, func(g *jwt.UserPermissionLimits) {
		g.Sub.Allow.Add(SubjectPrefix + customer)
		g.Pub.Deny.Add(">")
		g.Subs = MaxSubscriptions
		g.Payload = MaxPayload
	})
	if err != nil {
		return "", time.Time{}, err
	}
	return token, expires, nil
}

// allow takes one of customer's credentials from its rate at now, and
// says whether there was one.
func (p *Passes) allow(customer string, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.issued) >= p.nextSweep {
		for c, l := range p.issued {
			if l.TokensAt(now) >= IssueBurst {
				delete(p.issued, c)
			}
		}
		p.nextSweep = max(minSweep, 2*len(p.issued))
	}
	l, ok := p.issued[customer]
	if !ok {
		l = rate.NewLimiter(rate.Every(IssueEvery), IssueBurst)
		p.issued[customer] = l
	}
	return l.AllowN(now, 1)
}

// validUserKey is whether key is a NATS user public key exactly as NATS
// writes one. nkeys' own check decodes with encoding/base32, which skips
// line breaks: a key with a newline would pass, and land in the JWT's
// subject as it came.
func validUserKey(key string) bool {
	raw, err := nkeys.Decode(nkeys.PrefixByteUser, []byte(key))
	if err != nil {
		return false
	}
	canonical, err := nkeys.Encode(nkeys.PrefixByteUser, raw)
	return err == nil && string(canonical) == key
}

// NotifierPermissions are notification's own on NATS: it publishes to
// every customer's subject and subscribes to nothing.
func NotifierPermissions(g *jwt.UserPermissionLimits) {
	g.Pub.Allow.Add(SubjectPrefix + ">")
	g.Sub.Deny.Add(">")
}
