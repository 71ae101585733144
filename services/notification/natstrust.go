package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/daprshop/daprshop/internal/natstrust"
	"github.com/daprshop/daprshop/services/notification/internal/natsbus"
)

// command runs what notification's arguments ask for, instead of the
// service: nats-trust, which an operator runs once per deployment.
func command(args []string, stdout io.Writer) error {
	if len(args) != 2 || args[0] != "nats-trust" {
		return errors.New("usage: notification nats-trust DIR (without arguments it runs the service)")
	}
	return natsTrust(args[1], stdout)
}

// natsTrust makes the keys of a NATS server that authenticates its clients,
// for one deployment: the server's configuration (an operator it trusts,
// and daprshop's account), notification's own credentials, and the signing
// key it issues customers theirs with. It writes them under dir, which must
// be new or empty, and says where each goes.
func natsTrust(dir string, stdout io.Writer) error {
	trust, err := natstrust.New("daprshop")
	if err != nil {
		return err
	}
	if err := trust.Write(dir, "notification", natsbus.NotifierPermissions); err != nil {
		return fmt.Errorf("nats-trust: %w", err)
	}
	path := func(name string) string { return filepath.Join(dir, name) }
	_, err = fmt.Fprintf(stdout, `NATS keys for account %s, in %s:
  %s  include it in nats-server's configuration
  %s  notification's NATS_CREDENTIALS (secret)
  %s  notification's NATS_ACCOUNT_SIGNING_KEY (secret)
  %s  notification's NATS_ACCOUNT
`, trust.Account, dir, path(natstrust.ServerConfigFile), path(natstrust.CredentialsFile), path(natstrust.SigningKeyFile), path(natstrust.AccountFile))
	return err
}
