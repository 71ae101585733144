// Package natstrust makes and signs what a nats-server in JWT mode (NATS's
// decentralized authentication) checks every client against: an operator
// the server trusts; daprshop's account, which the operator signed; a
// signing key the account lists; and users of the account, each a JWT
// signed with that key and carrying the user's permissions.
//
// notification makes a deployment's keys (`notification nats-trust DIR`)
// and signs its customers' users with the signing key; the tests sign
// users of their own the same way.
package natstrust

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
)

// Trust is one deployment's keys, made once. The operator's and the
// account's own keys sign nothing after New: they are not kept, so
// rotating means a new Trust, given to every server and to notification.
type Trust struct {
	// Account is the account's public key ("A...").
	Account string
	// OperatorJWT and AccountJWT are what the server is configured with.
	OperatorJWT, AccountJWT string
	// Signing is the account's signing key, which signs its users.
	Signing nkeys.KeyPair
}

// New makes fresh keys: an operator named operatorName and daprshop's
// account with one signing key.
func New(operatorName string) (*Trust, error) {
	operator, err := nkeys.CreateOperator()
	if err != nil {
		return nil, err
	}
	account, err := nkeys.CreateAccount()
	if err != nil {
		return nil, err
	}
	signing, err := nkeys.CreateAccount()
	if err != nil {
		return nil, err
	}
	operatorPub, _ := operator.PublicKey()
	accountPub, _ := account.PublicKey()
	signingPub, _ := signing.PublicKey()

	oc := jwt.NewOperatorClaims(operatorPub)
	oc.Name = operatorName
	operatorJWT, err := oc.Encode(operator)
	if err != nil {
		return nil, fmt.Errorf("sign the operator: %w", err)
	}
	ac := jwt.NewAccountClaims(accountPub)
	ac.Name = "DAPRSHOP"
	ac.SigningKeys.Add(signingPub)
	accountJWT, err := ac.Encode(operator)
	if err != nil {
		return nil, fmt.Errorf("sign the account: %w", err)
	}
	return &Trust{Account: accountPub, OperatorJWT: operatorJWT, AccountJWT: accountJWT, Signing: signing}, nil
}

// ServerConfig is the part of nats-server's configuration that makes it
// trust the operator and know the account (a server's configuration
// includes it).
func (t *Trust) ServerConfig() string {
	return fmt.Sprintf("# daprshop's NATS trust: every client authenticates with a user JWT\n"+
		"# of account %s, signed with its signing key.\n"+
		"operator: %q\nresolver: MEMORY\nresolver_preload: {\n  %s: %q\n}\n",
		t.Account, t.OperatorJWT, t.Account, t.AccountJWT)
}

// The files Write lays out under its directory: what an operator copies
// to the NATS server and to notification.
const (
	// ServerConfigFile is ServerConfig, for nats-server's configuration to
	// include.
	ServerConfigFile = "nats-server/daprshop-trust.conf"
	// CredentialsFile is notification's credentials (NATS_CREDENTIALS).
	CredentialsFile = "notification/nats.creds"
	// SigningKeyFile is the signing key's seed (NATS_ACCOUNT_SIGNING_KEY).
	SigningKeyFile = "notification/nats-account-signing-key"
	// AccountFile holds the account's public key (NATS_ACCOUNT).
	AccountFile = "notification/nats-account"
)

// ErrExists is a directory that holds files already: writing new keys
// over a Trust would lock out every client of the old one.
var ErrExists = errors.New("is not empty: remove it first to make new keys, which every NATS server and notification must then get")

// Write writes the Trust's files under dir, which must be new or empty,
// with the credentials of a user named notifier whose permissions and
// limits grant sets. The secrets are readable by their owner alone.
func (t *Trust) Write(dir, notifier string, grant func(*jwt.UserPermissionLimits)) error {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("%s %w", dir, ErrExists)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	creds, err := Credentials(t.Signing, t.Account, notifier, grant)
	if err != nil {
		return err
	}
	seed, err := t.Signing.Seed()
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{ServerConfigFile, []byte(t.ServerConfig()), 0o644},
		{CredentialsFile, creds, 0o600},
		{SigningKeyFile, append(seed, '\n'), 0o600},
		{AccountFile, []byte(t.Account + "\n"), 0o644},
	} {
		path := filepath.Join(dir, f.name)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(path, f.data, f.mode); err != nil {
			return err
		}
	}
	return nil
}

// Sign returns a JWT for the user whose public key is userKey, named name,
// in account, signed with signer (one of the account's signing keys), with
// the permissions and limits grant sets (none but those: a new user's
// JWT allows everything, without limits); it expires at expires unless
// that is zero.
func Sign(signer nkeys.KeyPair, account, userKey, name string, expires time.Time, grant func(*jwt.UserPermissionLimits)) (string, error) {
	uc := jwt.NewUserClaims(userKey)
	uc.Name = name
	uc.IssuerAccount = account
	if !expires.IsZero() {
		uc.Expires = expires.Unix()
	}
	grant(&uc.UserPermissionLimits)
	token, err := uc.Encode(signer)
	if err != nil {
		return "", fmt.Errorf("sign %s's NATS credentials: %w", name, err)
	}
	return token, nil
}

// Credentials returns a credentials file (a user JWT and the user's seed,
// what nats.UserCredentials reads) for a new user of account, made as Sign
// says, valid until its account or signing key is replaced.
func Credentials(signer nkeys.KeyPair, account, name string, grant func(*jwt.UserPermissionLimits)) ([]byte, error) {
	user, err := nkeys.CreateUser()
	if err != nil {
		return nil, err
	}
	pub, _ := user.PublicKey()
	seed, err := user.Seed()
	if err != nil {
		return nil, err
	}
	token, err := Sign(signer, account, pub, name, time.Time{}, grant)
	if err != nil {
		return nil, err
	}
	return jwt.FormatUserConfig(token, seed)
}
