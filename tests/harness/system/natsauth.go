package system

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
)

// NATSAuth is what a nats-server in JWT mode (NATS's decentralized
// authentication) and its clients hold: the server trusts an operator,
// which signed daprshop's account, which lists a signing key. Notification
// signs its customers' credentials with that key; its own user may publish
// to every customer's subject, and the tests' observer may subscribe to
// them all.
type NATSAuth struct {
	// Account is the account's public key ("A..."), and SigningKey the
	// file holding its signing key's seed: what notification signs
	// customers' credentials with (NATS_ACCOUNT, NATS_ACCOUNT_SIGNING_KEY).
	Account, SigningKey string
	// NotificationCreds is the credentials file (a user JWT and its seed)
	// notification connects with (NATS_CREDENTIALS); ObserverCreds the
	// tests' own, which may subscribe to notifications.>.
	NotificationCreds, ObserverCreds string
	// ServerConfig is the part of nats-server's configuration that makes
	// it trust the operator and know the account.
	ServerConfig string
}

// NewNATSAuth makes fresh keys for a NATS server of the test, its files in
// a directory the test removes.
func NewNATSAuth(t testing.TB) *NATSAuth {
	t.Helper()
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("nats keys: %v", err)
		}
	}
	operator, err := nkeys.CreateOperator()
	must(err)
	account, err := nkeys.CreateAccount()
	must(err)
	signing, err := nkeys.CreateAccount()
	must(err)
	operatorPub, err := operator.PublicKey()
	must(err)
	accountPub, err := account.PublicKey()
	must(err)
	signingPub, err := signing.PublicKey()
	must(err)

	oc := jwt.NewOperatorClaims(operatorPub)
	oc.Name = "daprshop-tests"
	operatorJWT, err := oc.Encode(operator)
	must(err)
	ac := jwt.NewAccountClaims(accountPub)
	ac.Name = "DAPRSHOP"
	ac.SigningKeys.Add(signingPub)
	accountJWT, err := ac.Encode(operator)
	must(err)

	user := func(name string, edit func(*jwt.UserClaims)) string {
		kp, err := nkeys.CreateUser()
		must(err)
		pub, err := kp.PublicKey()
		must(err)
		seed, err := kp.Seed()
		must(err)
		uc := jwt.NewUserClaims(pub)
		uc.Name = name
		uc.IssuerAccount = accountPub
		edit(uc)
		token, err := uc.Encode(signing)
		must(err)
		creds, err := jwt.FormatUserConfig(token, seed)
		must(err)
		path := filepath.Join(dir, name+".creds")
		must(os.WriteFile(path, creds, 0o600))
		return path
	}
	a := &NATSAuth{
		Account: accountPub,
		NotificationCreds: user("notification", func(uc *jwt.UserClaims) {
			uc.Pub.Allow.Add("notifications.>")
			uc.Sub.Deny.Add(">")
		}),
		ObserverCreds: user("observer", func(uc *jwt.UserClaims) {
			uc.Sub.Allow.Add("notifications.>")
			uc.Pub.Deny.Add(">")
		}),
		ServerConfig: fmt.Sprintf("operator: %q\nresolver: MEMORY\nresolver_preload: {\n  %s: %q\n}\n", operatorJWT, accountPub, accountJWT),
	}
	seed, err := signing.Seed()
	must(err)
	a.SigningKey = filepath.Join(dir, "account-signing-key.nk")
	must(os.WriteFile(a.SigningKey, seed, 0o600))
	return a
}
