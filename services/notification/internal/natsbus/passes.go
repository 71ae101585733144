package natsbus

import (
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"

	"github.com/daprshop/daprshop/internal/natstrust"
)

// ErrInvalidUserKey is a user public key that is not one ("U..." in
// NATS's encoding).
var ErrInvalidUserKey = errors.New("not a NATS user public key")

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
	return &Passes{signer: signer, account: account, lifetime: lifetime, now: now}, nil
}

// Issue returns a user JWT for the holder of userKey, allowed to subscribe
// to customer's subject only, and when it expires.
func (p *Passes) Issue(customer, userKey string) (string, time.Time, error) {
	if !nkeys.IsValidPublicUserKey(userKey) {
		return "", time.Time{}, ErrInvalidUserKey
	}
	expires := p.now().Add(p.lifetime).Truncate(time.Second)
	token, err := natstrust.Sign(p.signer, p.account, userKey, customer, expires, func(perm *jwt.Permissions) {
		perm.Sub.Allow.Add(SubjectPrefix + customer)
		perm.Pub.Deny.Add(">")
	})
	if err != nil {
		return "", time.Time{}, err
	}
	return token, expires, nil
}

// NotifierPermissions are notification's own on NATS: it publishes to
// every customer's subject and subscribes to nothing.
func NotifierPermissions(perm *jwt.Permissions) {
	perm.Pub.Allow.Add(SubjectPrefix + ">")
	perm.Sub.Deny.Add(">")
}
