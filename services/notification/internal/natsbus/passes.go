package natsbus

import (
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
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
	uc := jwt.NewUserClaims(userKey)
	uc.Name = customer
	uc.IssuerAccount = p.account
	uc.Expires = expires.Unix()
	uc.Sub.Allow.Add(SubjectPrefix + customer)
	uc.Pub.Deny.Add(">")
	token, err := uc.Encode(p.signer)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign NATS credentials: %w", err)
	}
	return token, expires, nil
}
