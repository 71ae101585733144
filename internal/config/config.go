// Package config reads the settings every daprshop service shares from its
// environment, the way both `dapr run` and Kubernetes hand them over.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/daprshop/daprshop/internal/httpserver"
)

// Base holds the settings common to every service.
type Base struct {
	// HTTPAddr is where the app serves its API and where daprd reaches it.
	HTTPAddr string
	// DaprGRPCAddr and DaprHTTPAddr are the sidecar's APIs on loopback.
	DaprGRPCAddr string
	DaprHTTPAddr string
	// DaprAPIToken is sent to the sidecar on every call; the sidecar
	// requires it on its API.
	DaprAPIToken string
	// AppAPIToken must accompany every call from the sidecar to the
	// routes only the sidecar may call.
	AppAPIToken string
	// InsecureNoTokens lets the service start without the tokens and
	// without an issuer of clients' tokens, for development only
	// (INSECURE_NO_TOKENS=true): anything that reaches the sidecar's API
	// may then use it as this app, anything that reaches the app may call
	// its sidecar-only routes, and any client acts as an operator.
	InsecureNoTokens bool
	// AuthIssuer is the OpenID Connect issuer whose tokens clients must
	// present (AUTH_ISSUER: the URL its discovery document lives under);
	// AuthAudience what the tokens must be issued for (AUTH_AUDIENCE,
	// default daprshop). Without an issuer (development only: the
	// service refuses to start without one unless InsecureNoTokens) no
	// request is authenticated, and any client may act as any customer
	// and as an operator.
	AuthIssuer, AuthAudience string
	// StateStore is the name of the Dapr state store component.
	StateStore string
	// ShutdownTimeout bounds the graceful drain on SIGTERM; keep it below the
	// platform's grace period (Kubernetes: 30s) so draining can finish.
	ShutdownTimeout time.Duration
	LogLevel        slog.Level
	// ProfilerAddr, when set, is where the app serves Go's profiler
	// (/debug/pprof/). Keep it on loopback: a profile shows the code and
	// may show data.
	ProfilerAddr string
}

// EnvInsecureNoTokens is the development setting that lets a service start
// without DAPR_API_TOKEN, APP_API_TOKEN and AUTH_ISSUER.
const EnvInsecureNoTokens = "INSECURE_NO_TOKENS"

// EnvOrderStoreCreateETag is the ETag the order service creates an order
// with, for an order store that ignores first-write inside transactions
// (unset: first-write, as Dapr's state API specifies). The deployment
// sets it with the component set it runs.
const EnvOrderStoreCreateETag = "ORDERSTORE_CREATE_ETAG"

// EnvCancellationWindow is how long after it is placed a confirmed order
// may be cancelled. Order and inventory read it both: order refuses a
// later cancel, inventory fulfils an order's holds a tenth of the window
// after it, when no cancel can come any more.
const EnvCancellationWindow = "CANCELLATION_WINDOW"

// DefaultCancellationWindow is two days: longer than an idempotency key
// lives (a day), so that a client retrying a placement with its key finds
// its order's hold.
const DefaultCancellationWindow = 48 * time.Hour

// LoadBase reads the common settings. defaultPort is the service's port in
// the public contract; defaultStore names its state store component. The
// variable names are the ones the Dapr CLI and sidecar injector set for the
// app: APP_PORT, DAPR_HTTP_PORT, DAPR_GRPC_PORT, DAPR_API_TOKEN,
// APP_API_TOKEN. Without both tokens and an issuer of clients' tokens
// (AUTH_ISSUER) a service refuses to start (it fails closed), unless
// INSECURE_NO_TOKENS=true says this is development.
func LoadBase(getenv func(string) string, defaultPort int, defaultStore string) (Base, error) {
	env := NewEnv(getenv)
	host := env.String("APP_HOST", "127.0.0.1")
	port := env.Port("APP_PORT", defaultPort)
	b := Base{
		HTTPAddr:        net.JoinHostPort(host, strconv.Itoa(port)),
		DaprGRPCAddr:    net.JoinHostPort("127.0.0.1", strconv.Itoa(env.Port("DAPR_GRPC_PORT", 50001))),
		DaprHTTPAddr:    net.JoinHostPort("127.0.0.1", strconv.Itoa(env.Port("DAPR_HTTP_PORT", 3500))),
		DaprAPIToken:    env.String("DAPR_API_TOKEN", ""),
		AppAPIToken:     env.String("APP_API_TOKEN", ""),
		AuthIssuer:      env.URL("AUTH_ISSUER"),
		AuthAudience:    env.String("AUTH_AUDIENCE", "daprshop"),
		StateStore:      env.String("STATE_STORE", defaultStore),
		ShutdownTimeout: env.Duration("SHUTDOWN_TIMEOUT", 20*time.Second),
		LogLevel:        env.Level("LOG_LEVEL", slog.LevelInfo),
		ProfilerAddr:    env.LoopbackAddr("PPROF_ADDR", ""),
	}
	b.InsecureNoTokens = env.Bool(EnvInsecureNoTokens)
	if !b.InsecureNoTokens {
		env.Require("DAPR_API_TOKEN", b.DaprAPIToken, "the sidecar's token: without it, whatever reaches the sidecar's API may act as this app")
		env.Require("APP_API_TOKEN", b.AppAPIToken, "the token the sidecar presents: without it, whatever reaches the app may call the routes only the sidecar may")
		env.Require("AUTH_ISSUER", b.AuthIssuer, "the issuer of the clients' bearer tokens: without it, any client may act as any customer and as an operator")
	}
	return b, env.Err()
}

// MissingTokens names the tokens the service runs without (only possible
// with InsecureNoTokens), for the warning it logs at start.
func (b Base) MissingTokens() []string {
	var missing []string
	if b.DaprAPIToken == "" {
		missing = append(missing, "DAPR_API_TOKEN")
	}
	if b.AppAPIToken == "" {
		missing = append(missing, "APP_API_TOKEN")
	}
	if b.AuthIssuer == "" {
		missing = append(missing, "AUTH_ISSUER")
	}
	return missing
}

// Server is where the service's HTTP servers listen.
func (b Base) Server() httpserver.Config {
	return httpserver.Config{Addr: b.HTTPAddr, ProfilerAddr: b.ProfilerAddr, ShutdownTimeout: b.ShutdownTimeout}
}

// Env reads typed values from environment variables and collects every
// problem, so a misconfigured service reports all of them at once.
type Env struct {
	getenv func(string) string
	errs   []error
}

// NewEnv returns an Env reading through getenv (os.Getenv in main, a map in
// tests).
func NewEnv(getenv func(string) string) *Env { return &Env{getenv: getenv} }

// String returns the variable's value, or def when it is unset or empty.
func (e *Env) String(key, def string) string {
	if v := e.getenv(key); v != "" {
		return v
	}
	return def
}

// Bool returns the variable as a boolean: true, false, or unset (false).
func (e *Env) Bool(key string) bool {
	switch v := e.getenv(key); v {
	case "", "false":
		return false
	case "true":
		return true
	default:
		e.errs = append(e.errs, fmt.Errorf("%s=%q: want true or false", key, v))
		return false
	}
}

// Require records an error when value (the variable key's) is empty; why
// says what goes wrong without it, and the error how to run without it in
// development.
func (e *Env) Require(key, value, why string) {
	if value == "" {
		e.errs = append(e.errs, fmt.Errorf("%s is not set: %s (%s=true runs without it, in development only)", key, why, EnvInsecureNoTokens))
	}
}

// Port returns the variable as a TCP port number (1-65535).
func (e *Env) Port(key string, def int) int {
	v := e.getenv(key)
	if v == "" {
		return def
	}
	p, err := strconv.Atoi(v)
	if err != nil || p < 1 || p > 65535 {
		e.errs = append(e.errs, fmt.Errorf("%s=%q: want a port number 1-65535", key, v))
		return def
	}
	return p
}

// LoopbackAddr returns the variable as a loopback host:port address with a
// valid port, such as 127.0.0.1:6060 or localhost:6060: what is served
// there (Go's profiler) shows the code and may show data, so an address
// that would listen on other interfaces, such as :6060, is refused.
func (e *Env) LoopbackAddr(key, def string) string {
	v := e.getenv(key)
	if v == "" {
		return def
	}
	host, port, err := net.SplitHostPort(v)
	p, perr := strconv.Atoi(port)
	ip := net.ParseIP(host)
	if err != nil || perr != nil || p < 1 || p > 65535 || (host != "localhost" && (ip == nil || !ip.IsLoopback())) {
		e.errs = append(e.errs, fmt.Errorf("%s=%q: want a loopback host:port such as 127.0.0.1:6060", key, v))
		return def
	}
	return v
}

// URL returns the variable as an absolute http or https URL, or "" when
// it is unset.
func (e *Env) URL(key string) string {
	v := e.getenv(key)
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		e.errs = append(e.errs, fmt.Errorf("%s=%q: want an http or https URL, with a host and nothing after its path", key, v))
		return ""
	}
	return v
}

// Duration returns the variable parsed by time.ParseDuration; it must be
// positive.
func (e *Env) Duration(key string, def time.Duration) time.Duration {
	v := e.getenv(key)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		e.errs = append(e.errs, fmt.Errorf("%s=%q: want a positive duration such as 10s", key, v))
		return def
	}
	return d
}

// Level returns the variable as a slog level (debug, info, warn, error).
func (e *Env) Level(key string, def slog.Level) slog.Level {
	v := e.getenv(key)
	if v == "" {
		return def
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(v)); err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s=%q: want debug, info, warn or error", key, v))
		return def
	}
	return l
}

// Err reports every invalid variable read so far.
func (e *Env) Err() error { return errors.Join(e.errs...) }
