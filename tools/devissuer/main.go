// Command devissuer is the identity provider of `make run RUN_SECURED=true`:
// an OpenID Connect issuer on loopback that the services verify tokens
// against exactly as they would a real provider's (its discovery document
// and its signing keys, internal/auth/authtest), and, on a second loopback
// port, the tokens a developer asks for, which no real provider would
// hand out:
//
//	devissuer -issuer 127.0.0.1:8089 -tokens 127.0.0.1:8088
//	curl '127.0.0.1:8088/token?customer=c-1'     # a customer's token
//	curl '127.0.0.1:8088/token?role=operator'    # an operator's
//
// `make token CUSTOMER=c-1` and `make token ROLE=operator` ask it. Its keys
// live as long as it does: a token outlives neither a restart of make run
// nor its hour.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/daprshop/daprshop/internal/auth"
	"github.com/daprshop/daprshop/internal/auth/authtest"
	"github.com/daprshop/daprshop/internal/ids"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "devissuer:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("devissuer", flag.ContinueOnError)
	issuerAddr := fs.String("issuer", "127.0.0.1:8089", "where the issuer listens (loopback only): its URL is http://ADDR, the services' AUTH_ISSUER")
	tokensAddr := fs.String("tokens", "127.0.0.1:8088", "where tokens are handed out (loopback only)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	issuerLn, err := listenLoopback(*issuerAddr)
	if err != nil {
		return err
	}
	tokensLn, err := listenLoopback(*tokensAddr)
	if err != nil {
		return err
	}
	issuer, err := authtest.Serve(issuerLn, "")
	if err != nil {
		return err
	}
	defer issuer.Close()
	tokens := &http.Server{Handler: tokenHandler(issuer), ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = tokens.Close()
	}()
	slog.Info("development issuer: INSECURE, it hands a token to anyone who asks on its tokens address",
		slog.String("issuer", issuer.URL), slog.String("tokens", "http://"+tokensLn.Addr().String()+"/token"))
	if err := tokens.Serve(tokensLn); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// listenLoopback listens on addr, which must be a loopback address: the
// tokens it would hand out elsewhere are anyone's.
func listenLoopback(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("%s: not a loopback address; a development issuer serves this machine only", addr)
	}
	return net.Listen("tcp", addr)
}

// tokenHandler answers GET /token?customer=ID with a token for that
// customer, and GET /token?role=operator with an operator's (for the
// customer named, or "operator"), as text, valid for an hour.
func tokenHandler(issuer *authtest.Issuer) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /token", func(w http.ResponseWriter, r *http.Request) {
		customer, role := r.URL.Query().Get("customer"), r.URL.Query().Get("role")
		var roles []string
		switch role {
		case "":
		case auth.OperatorRole:
			roles = []string{auth.OperatorRole}
			if customer == "" {
				customer = auth.OperatorRole
			}
		default:
			http.Error(w, fmt.Sprintf("role %q: the only role is %s", role, auth.OperatorRole), http.StatusBadRequest)
			return
		}
		if !ids.Valid(customer) {
			http.Error(w, fmt.Sprintf("customer %q: %s (or role=%s)", customer, ids.Rule, auth.OperatorRole), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, issuer.Token(customer, roles...))
	})
	return mux
}
