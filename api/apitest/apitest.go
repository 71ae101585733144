// Package apitest holds a service's handler to its OpenAPI document: every
// answer a test sees must be one the document describes for the route,
// and a route the document does not describe must not be served.
package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/daprshop/daprshop/api"
)

// Load returns the document of service (api/SERVICE.yaml), its references
// to common.yaml resolved, and validated as OpenAPI 3.
func Load(service string) (*openapi3.T, error) {
	data, err := fs.ReadFile(api.Documents, service+".yaml")
	if err != nil {
		return nil, err
	}
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = true
	loader.ReadFromURIFunc = func(_ *openapi3.Loader, u *url.URL) ([]byte, error) {
		return fs.ReadFile(api.Documents, path.Base(u.Path))
	}
	doc, err := loader.LoadFromDataWithPath(data, &url.URL{Path: service + ".yaml"})
	if err != nil {
		return nil, fmt.Errorf("api/%s.yaml: %w", service, err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("api/%s.yaml: %w", service, err)
	}
	return doc, nil
}

// routers are the documents' routers, by service, each loaded once.
var loaded sync.Map

func router(service string) (routers.Router, error) {
	if r, ok := loaded.Load(service); ok {
		return r.(routers.Router), nil
	}
	doc, err := Load(service)
	if err != nil {
		return nil, err
	}
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("api/%s.yaml: %w", service, err)
	}
	loaded.Store(service, r)
	return r, nil
}

// Checked returns h, which serves service's routes, checked against
// api/SERVICE.yaml: t fails on an answer whose status, headers or body the
// document does not describe for its route, and on a request the document
// has no route for that is answered anything but the shared error shape
// with 404 not_found or 405 method_not_allowed (a route served but not
// described; see undescribed for an empty path segment). Requests are not
// checked: tests send bad ones on purpose.
func Checked(t testing.TB, service string, h http.Handler) http.Handler {
	t.Helper()
	r, err := router(service)
	if err != nil {
		t.Fatal(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if err := check(r, req, rec); err != nil {
			t.Errorf("%s %s answered %d %.300s: not as api/%s.yaml describes: %v",
				req.Method, req.URL.RequestURI(), rec.Code, rec.Body.Bytes(), service, err)
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

// check says how the answer rec to req departs from the document r
// routes by, if it does.
func check(r routers.Router, req *http.Request, rec *httptest.ResponseRecorder) error {
	route, params, err := r.FindRoute(req)
	if err != nil || slices.ContainsFunc(slices.Collect(maps.Values(params)), isPath) {
		// A path parameter is one segment of the path: the router takes
		// an escaped slash (/reservations/%2F) for one, the services'
		// router, rightly, for a path of no route.
		return undescribed(req, rec)
	}
	return openapi3filter.ValidateResponse(req.Context(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 rec.Code,
		Header:                 rec.Header(),
		Body:                   io.NopCloser(bytes.NewReader(rec.Body.Bytes())),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	})
}

// isPath reports whether a path parameter's value, unescaped, holds a
// slash.
func isPath(v string) bool {
	u, err := url.PathUnescape(v)
	return err != nil || strings.Contains(u, "/")
}

// undescribed checks the answer to a request no route of the document
// takes: the error shape, with 404 not_found or 405 method_not_allowed.
// A path with an empty segment (/items//restock) may also be refused
// otherwise, with any 4xx: OpenAPI has no empty path parameter, and the
// services' router takes it for one, which the handler refuses (an
// empty SKU is invalid).
func undescribed(req *http.Request, rec *httptest.ResponseRecorder) error {
	var body struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	switch {
	case rec.Code == http.StatusNotFound && body.Error.Code == "not_found",
		rec.Code == http.StatusMethodNotAllowed && body.Error.Code == "method_not_allowed",
		strings.Contains(req.URL.Path, "//") && rec.Code/100 == 4 && body.Error.Code != "":
		return nil
	}
	return fmt.Errorf("the document has no such route, and the service served it")
}
