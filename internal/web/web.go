// Package web holds the HTTP conventions every daprshop service shares: one
// JSON error shape, request logging, panic recovery and the app API token.
package web

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	jsonv2 "github.com/go-json-experiment/json"

	"github.com/daprshop/daprshop/internal/auth"
)

// Error is the body of every error response:
// {"error":{"code":"...","message":"..."}}. Code is stable and meant for
// machines; Message is for people and may change.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ErrorBody wraps Error in the response envelope.
type ErrorBody struct {
	Error Error `json:"error"`
}

// Stable error codes shared by every service.
const (
	CodeNotFound         = "not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeInternal         = "internal"
	CodeUnauthorized     = "unauthorized"
	CodeForbidden        = "forbidden"
	CodeTooLarge         = "body_too_large"
	CodeMalformed        = "malformed_json"
	CodeContentType      = "unsupported_media_type"
	CodeInvalid          = "invalid_request"
	CodeUnavailable      = "unavailable"
	CodeTooManyRequests  = "too_many_requests"
)

// WriteError aborts the request with the shared error shape.
func WriteError(c *gin.Context, status int, code, message string) {
	c.AbortWithStatusJSON(status, ErrorBody{Error: Error{Code: code, Message: message}})
}

// NewEngine returns a gin engine with the shared middleware: structured access
// logs, recovery that answers the JSON error shape, and JSON 404/405 answers.
func NewEngine(logger *slog.Logger) *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.HandleMethodNotAllowed = true
	// A path no route names is a 404 in the error shape, not a redirect
	// to its neighbour without the trailing slash: FuzzReservation found
	// /reservations/%2F answered 307, and a 307 keeps the method and the
	// body, so Go's client, following it, placed an order POSTed to
	// /orders/ (the hostile client's "an order POSTed to /orders/").
	e.RedirectTrailingSlash = false
	e.ContextWithFallback = true
	e.Use(accessLog(logger), recovery(logger), timeout(RequestTimeout))
	e.NoRoute(func(c *gin.Context) { WriteError(c, http.StatusNotFound, CodeNotFound, "no such route") })
	e.NoMethod(func(c *gin.Context) {
		WriteError(c, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "method not allowed on this route")
	})
	return e
}

// RequestTimeout bounds the work done for one request, sidecar calls
// included: longer than the resiliency policy's retries for an invocation,
// shorter than a client's patience.
const RequestTimeout = 30 * time.Second

func timeout(d time.Duration) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), d)
		defer cancel()
		c.Request = c.Request.WithContext(ctx)
		c.Next()
	}
}

func accessLog(logger *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		level := slog.LevelDebug
		// A failing probe is the platform asking, not a fault of this
		// request: /readyz answers 503 until the sidecar is up.
		if c.Writer.Status() >= http.StatusInternalServerError && !probes[c.FullPath()] {
			level = slog.LevelError
		}
		logger.LogAttrs(c.Request.Context(), level, "http request",
			slog.String("method", c.Request.Method),
			slog.String("route", c.FullPath()),
			slog.Int("status", c.Writer.Status()),
			slog.Duration("duration", time.Since(start)),
			slog.String("error", c.Errors.String()),
		)
	}
}

func recovery(logger *slog.Logger) gin.HandlerFunc {
	return gin.CustomRecoveryWithWriter(nil, func(c *gin.Context, rec any) {
		logger.ErrorContext(c.Request.Context(), "panic in handler", slog.Any("panic", rec), slog.String("route", c.FullPath()))
		WriteError(c, http.StatusInternalServerError, CodeInternal, "internal error")
	})
}

// probes are the routes the platform calls: not logged as errors when they
// answer 503.
var probes = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// IsProbe reports whether path is one the platform calls (liveness,
// readiness, metrics scrapes) rather than a client or the sidecar.
func IsProbe(path string) bool { return probes[path] }

// RequireAppToken guards the routes only the sidecar calls (event
// deliveries, invoked methods): daprd sends the app API token as the
// dapr-api-token header, so a call without it did not come through Dapr.
// Public routes, which clients call directly, do not take it. An empty
// token guards nothing (a setup without tokens).
func RequireAppToken(token string) gin.HandlerFunc {
	want := []byte(token)
	return func(c *gin.Context) {
		if token == "" {
			return
		}
		got := []byte(c.GetHeader("dapr-api-token"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			WriteError(c, http.StatusUnauthorized, CodeUnauthorized, "missing or wrong dapr-api-token")
		}
	}
}

// Authentication is the authentication of a service whose tokens issuer
// signs for audience: Authenticate with a verifier of them, which counts
// its fetches from the issuer on fetches; or, without an issuer
// (development only), none: every caller is taken for an operator.
func Authentication(issuer, audience string, fetches auth.Counter) gin.HandlerFunc {
	if issuer == "" {
		return func(c *gin.Context) {
			c.Request = c.Request.WithContext(auth.NewContext(c.Request.Context(), auth.Principal{Operator: true}))
		}
	}
	return Authenticate(auth.NewVerifier(issuer, audience, auth.Options{Fetches: fetches}))
}

// Caller is who the request comes from, as Authentication put it in the
// request's context; a request it did not see is nobody's.
func Caller(c *gin.Context) auth.Principal {
	p, _ := auth.FromContext(c.Request.Context())
	return p
}

// ActingCustomer is the customer a request acts for, given the one its
// body names ("" for none): auth.Principal.Customer of its caller. A
// request that names another customer than its token's is answered 403
// forbidden and ok is false: the handler just returns.
func ActingCustomer(c *gin.Context, named string) (customer string, ok bool) {
	customer, ok = Caller(c).Customer(named)
	if !ok {
		WriteError(c, http.StatusForbidden, CodeForbidden, "customerId is not the customer the token was issued to")
	}
	return customer, ok
}

// TokenVerifier verifies a bearer token and says who it speaks for;
// *auth.Verifier is one.
type TokenVerifier interface {
	Verify(ctx context.Context, raw string) (auth.Principal, error)
}

// Authenticate guards the routes clients call: each request must carry a
// bearer token v accepts (401 unauthorized without one, 503 while the
// issuer cannot be reached), and who the token speaks for goes into the
// request's context, where auth.FromContext finds it.
func Authenticate(v TokenVerifier) gin.HandlerFunc {
	return func(c *gin.Context) {
		scheme, raw, _ := strings.Cut(c.GetHeader("Authorization"), " ")
		if !strings.EqualFold(scheme, "Bearer") || raw == "" {
			c.Header("WWW-Authenticate", `Bearer realm="daprshop"`)
			WriteError(c, http.StatusUnauthorized, CodeUnauthorized, "a bearer token is required")
			return
		}
		p, err := v.Verify(c.Request.Context(), raw)
		if errors.Is(err, auth.ErrIssuerUnavailable) {
			_ = c.Error(err)
			WriteError(c, http.StatusServiceUnavailable, CodeUnavailable, "tokens cannot be verified now; retry later")
			return
		}
		if err != nil {
			_ = c.Error(err)
			c.Header("WWW-Authenticate", `Bearer realm="daprshop", error="invalid_token"`)
			WriteError(c, http.StatusUnauthorized, CodeUnauthorized, "the bearer token is not valid")
			return
		}
		c.Request = c.Request.WithContext(auth.NewContext(c.Request.Context(), p))
	}
}

// RequireOperator guards the operators' routes, after Authenticate: a
// caller whose token lacks the operator role gets 403 forbidden. (What a
// customer may not see at all answers 404 instead, in the handlers: a 403
// would tell that it exists.)
func RequireOperator() gin.HandlerFunc {
	return func(c *gin.Context) {
		if !Caller(c).Operator {
			WriteError(c, http.StatusForbidden, CodeForbidden, "this needs the "+auth.OperatorRole+" role")
		}
	}
}

// MaxBodyBytes bounds every JSON request body; anything larger is refused
// with 413 before it is read into memory.
const MaxBodyBytes = 64 << 10

// DecodeJSON reads the request body into v strictly: the content type must be
// application/json, the body at most MaxBodyBytes, one JSON value in valid
// UTF-8, with no member v does not have, no name twice, and every name
// exactly as v spells it. What a lenient decoder would take (the last of
// two "customerId"s, or "CUSTOMERID" for "customerId") is a request two
// readers could understand differently: a proxy that checks the first and
// a service that acts on the last. On failure it writes the error response
// and returns false; the caller just returns.
func DecodeJSON(c *gin.Context, v any) bool {
	if err := decodeJSON(c.Writer, c.Request, v); err != nil {
		var tooLarge *http.MaxBytesError
		var badType *contentTypeError
		switch {
		case errors.As(err, &tooLarge):
			WriteError(c, http.StatusRequestEntityTooLarge, CodeTooLarge, fmt.Sprintf("body exceeds %d bytes", tooLarge.Limit))
		case errors.As(err, &badType):
			WriteError(c, http.StatusUnsupportedMediaType, CodeContentType, err.Error())
		default:
			WriteError(c, http.StatusBadRequest, CodeMalformed, err.Error())
		}
		return false
	}
	return true
}

type contentTypeError struct{ got string }

func (e *contentTypeError) Error() string {
	return fmt.Sprintf("content type %q: want application/json", e.got)
}

func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != "application/json" {
		return &contentTypeError{got: r.Header.Get("Content-Type")}
	}
	// The whole body first, so that one over the limit is refused as such
	// whatever its content.
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	// The decoder of encoding/json/v2 to come: exact names and no
	// duplicates are its defaults.
	if err := jsonv2.Unmarshal(data, v, jsonv2.RejectUnknownMembers(true)); err != nil {
		return fmt.Errorf("decode body: %w", err)
	}
	return nil
}
