package web_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/daprshop/daprshop/internal/auth"
	"github.com/daprshop/daprshop/internal/web"
)

type request struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

// newEngine serves POST /decode, which echoes the decoded request, and
// POST /sidecar/decode, the same behind the app token.
func newEngine(token string) *gin.Engine {
	e := web.NewEngine(slog.New(slog.DiscardHandler))
	decode := func(c *gin.Context) {
		var req request
		if !web.DecodeJSON(c, &req) {
			return
		}
		c.JSON(http.StatusOK, req)
	}
	e.POST("/decode", decode)
	e.POST("/sidecar/decode", web.RequireAppToken(token), decode)
	e.GET("/panic", func(*gin.Context) { panic("boom") })
	e.GET("/healthz", func(c *gin.Context) { c.Status(http.StatusOK) })
	return e
}

func serve(e http.Handler, method, path, contentType, body string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

func errorCode(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var body web.ErrorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("error body is not the shared shape: %v: %s", err, rec.Body)
	}
	return body.Error.Code
}

func TestDecodeJSON(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		body        string
		wantStatus  int
		wantCode    string
	}{
		{"valid", "application/json", `{"name":"a","count":1}`, http.StatusOK, ""},
		{"charset parameter", "application/json; charset=utf-8", `{"name":"a"}`, http.StatusOK, ""},
		{"trailing whitespace", "application/json", "{\"name\":\"a\"}\n", http.StatusOK, ""},
		{"unknown field", "application/json", `{"name":"a","extra":1}`, http.StatusBadRequest, web.CodeMalformed},
		{"malformed", "application/json", `{"name":`, http.StatusBadRequest, web.CodeMalformed},
		{"wrong type", "application/json", `{"count":"one"}`, http.StatusBadRequest, web.CodeMalformed},
		{"two values", "application/json", `{"name":"a"}{"name":"b"}`, http.StatusBadRequest, web.CodeMalformed},
		{"duplicate name", "application/json", `{"name":"a","name":"b"}`, http.StatusBadRequest, web.CodeMalformed},
		{"name in another case", "application/json", `{"NAME":"a"}`, http.StatusBadRequest, web.CodeMalformed},
		{"name and its case variant", "application/json", `{"name":"a","Name":"b"}`, http.StatusBadRequest, web.CodeMalformed},
		{"invalid UTF-8", "application/json", "{\"name\":\"\xff\"}", http.StatusBadRequest, web.CodeMalformed},
		{"empty body", "application/json", ``, http.StatusBadRequest, web.CodeMalformed},
		{"no content type", "", `{"name":"a"}`, http.StatusUnsupportedMediaType, web.CodeContentType},
		{"text", "text/plain", `{"name":"a"}`, http.StatusUnsupportedMediaType, web.CodeContentType},
		{"too large", "application/json", `{"name":"` + strings.Repeat("x", web.MaxBodyBytes) + `"}`, http.StatusRequestEntityTooLarge, web.CodeTooLarge},
		{"too large, with an unknown member first", "application/json", `{"pad":"` + strings.Repeat("x", web.MaxBodyBytes) + `"}`, http.StatusRequestEntityTooLarge, web.CodeTooLarge},
	}
	e := newEngine("")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := serve(e, http.MethodPost, "/decode", tc.contentType, tc.body)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status: got %d, want %d (%s)", rec.Code, tc.wantStatus, rec.Body)
			}
			if tc.wantCode != "" {
				if got := errorCode(t, rec); got != tc.wantCode {
					t.Errorf("code: got %q, want %q", got, tc.wantCode)
				}
			}
		})
	}
}

func TestEngineAnswersErrorsAsJSON(t *testing.T) {
	e := newEngine("")
	for _, tc := range []struct {
		method, path string
		wantStatus   int
		wantCode     string
	}{
		{http.MethodGet, "/nope", http.StatusNotFound, web.CodeNotFound},
		{http.MethodGet, "/panic/", http.StatusNotFound, web.CodeNotFound},
		{http.MethodPost, "/decode/", http.StatusNotFound, web.CodeNotFound},
		{http.MethodDelete, "/decode", http.StatusMethodNotAllowed, web.CodeMethodNotAllowed},
		{http.MethodGet, "/panic", http.StatusInternalServerError, web.CodeInternal},
	} {
		rec := serve(e, tc.method, tc.path, "", "")
		if rec.Code != tc.wantStatus || errorCode(t, rec) != tc.wantCode {
			t.Errorf("%s %s: got %d %s, want %d with code %s", tc.method, tc.path, rec.Code, rec.Body, tc.wantStatus, tc.wantCode)
		}
	}
}

func TestAppToken(t *testing.T) {
	e := newEngine("s3cret")
	if rec := serve(e, http.MethodPost, "/sidecar/decode", "application/json", `{}`); rec.Code != http.StatusUnauthorized || errorCode(t, rec) != web.CodeUnauthorized {
		t.Errorf("without token: got %d %s, want 401 unauthorized", rec.Code, rec.Body)
	}
	if rec := serve(e, http.MethodPost, "/sidecar/decode", "application/json", `{}`, "dapr-api-token", "wrong"); rec.Code != http.StatusUnauthorized {
		t.Errorf("wrong token: got %d, want 401", rec.Code)
	}
	if rec := serve(e, http.MethodPost, "/sidecar/decode", "application/json", `{}`, "dapr-api-token", "s3cret"); rec.Code != http.StatusOK {
		t.Errorf("right token: got %d %s, want 200", rec.Code, rec.Body)
	}
	if rec := serve(e, http.MethodPost, "/decode", "application/json", `{}`); rec.Code != http.StatusOK {
		t.Errorf("public route without token: got %d, want 200: clients call it directly, not through the sidecar", rec.Code)
	}
	if rec := serve(newEngine(""), http.MethodPost, "/sidecar/decode", "application/json", `{}`); rec.Code != http.StatusOK {
		t.Errorf("no token configured: got %d, want 200", rec.Code)
	}
}

// fakeVerifier accepts the tokens it lists; any other is unauthenticated.
type fakeVerifier struct {
	tokens map[string]auth.Principal
	down   bool // the issuer cannot be reached
}

func (v fakeVerifier) Verify(_ context.Context, raw string) (auth.Principal, error) {
	if v.down {
		return auth.Principal{}, auth.ErrIssuerUnavailable
	}
	p, ok := v.tokens[raw]
	if !ok {
		return auth.Principal{}, auth.ErrUnauthenticated
	}
	return p, nil
}

func TestAuthenticate(t *testing.T) {
	customer, operator := auth.Principal{Subject: "c-1"}, auth.Principal{Subject: "ops-1", Operator: true}
	newAuthEngine := func(v web.TokenVerifier) *gin.Engine {
		e := web.NewEngine(slog.New(slog.DiscardHandler))
		whoAmI := func(c *gin.Context) {
			p, _ := auth.FromContext(c)
			c.JSON(http.StatusOK, p)
		}
		api := e.Group("/", web.Authenticate(v))
		api.GET("/me", whoAmI)
		api.GET("/ops", web.RequireOperator(), whoAmI)
		return e
	}
	e := newAuthEngine(fakeVerifier{tokens: map[string]auth.Principal{"tc": customer, "to": operator}})
	for _, tc := range []struct {
		name, path, authorization string
		wantStatus                int
		wantCode                  string
		want                      auth.Principal
	}{
		{name: "a customer", path: "/me", authorization: "Bearer tc", wantStatus: http.StatusOK, want: customer},
		{name: "the scheme in any case", path: "/me", authorization: "bearer tc", wantStatus: http.StatusOK, want: customer},
		{name: "no token", path: "/me", wantStatus: http.StatusUnauthorized, wantCode: web.CodeUnauthorized},
		{name: "an empty token", path: "/me", authorization: "Bearer ", wantStatus: http.StatusUnauthorized, wantCode: web.CodeUnauthorized},
		{name: "another scheme", path: "/me", authorization: "Basic tc", wantStatus: http.StatusUnauthorized, wantCode: web.CodeUnauthorized},
		{name: "a token the verifier refuses", path: "/me", authorization: "Bearer forged", wantStatus: http.StatusUnauthorized, wantCode: web.CodeUnauthorized},
		{name: "an operator's route, as a customer", path: "/ops", authorization: "Bearer tc", wantStatus: http.StatusForbidden, wantCode: web.CodeForbidden},
		{name: "an operator's route, as an operator", path: "/ops", authorization: "Bearer to", wantStatus: http.StatusOK, want: operator},
		{name: "an operator's route, without a token", path: "/ops", wantStatus: http.StatusUnauthorized, wantCode: web.CodeUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var header []string
			if tc.authorization != "" {
				header = []string{"Authorization", tc.authorization}
			}
			rec := serve(e, http.MethodGet, tc.path, "", "", header...)
			if rec.Code != tc.wantStatus {
				t.Fatalf("got %d %s, want %d", rec.Code, rec.Body, tc.wantStatus)
			}
			if tc.wantCode != "" {
				if got := errorCode(t, rec); got != tc.wantCode {
					t.Errorf("got code %s, want %s", got, tc.wantCode)
				}
				if rec.Code == http.StatusUnauthorized && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("401 without a Bearer challenge: %q", rec.Header().Get("WWW-Authenticate"))
				}
				return
			}
			var got auth.Principal
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got != tc.want {
				t.Errorf("the handler saw %+v (%v), want %+v", got, err, tc.want)
			}
		})
	}

	down := newAuthEngine(fakeVerifier{down: true})
	if rec := serve(down, http.MethodGet, "/me", "", "", "Authorization", "Bearer tc"); rec.Code != http.StatusServiceUnavailable || errorCode(t, rec) != web.CodeUnavailable {
		t.Errorf("issuer unreachable: got %d %s, want 503 unavailable: the token may be good", rec.Code, rec.Body)
	}
}

// FuzzDecodeJSON feeds arbitrary bodies to the strict decoder: it must
// answer 200 or a 4xx in the shared shape, and never panic or 5xx.
func FuzzDecodeJSON(f *testing.F) {
	for _, seed := range []string{`{"name":"a","count":1}`, `{"name":"a","name":"b"}`, `{"NAME":"a"}`, `{"x":1}`, `[]`, `null`, `{"count":1e400}`, "\x00", `{"name":"\ud800"}`} {
		f.Add(seed)
	}
	e := newEngine("")
	f.Fuzz(func(t *testing.T, body string) {
		rec := serve(e, http.MethodPost, "/decode", "application/json", body)
		switch {
		case rec.Code == http.StatusOK:
		case rec.Code >= 400 && rec.Code < 500:
			var b web.ErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil || b.Error.Code == "" {
				t.Fatalf("%d answer not in the error shape: %s", rec.Code, rec.Body)
			}
		default:
			t.Fatalf("body %q: got status %d, want 200 or 4xx", body, rec.Code)
		}
	})
}
