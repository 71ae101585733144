package apitest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Every service's document loads, its references resolved, and is valid
// OpenAPI 3.
func TestDocumentsAreValid(t *testing.T) {
	for _, service := range []string{"order", "inventory", "notification"} {
		if _, err := Load(service); err != nil {
			t.Error(err)
		}
	}
	if _, err := Load("nosuch"); err == nil {
		t.Error("Load(nosuch): no error")
	}
}

// check passes what the document describes and fails the rest: an
// undescribed status, a body of another shape, a route served that the
// document does not have.
func TestCheck(t *testing.T) {
	r, err := router("order")
	if err != nil {
		t.Fatal(err)
	}
	const order = `{"id":"o-1","customerId":"c-1","items":[{"sku":"SKU-1","quantity":1}],"status":"confirmed",` +
		`"createdAt":"2026-12-07T00:00:00Z","updatedAt":"2026-12-07T00:00:00Z"}`
	for _, tc := range []struct {
		name, method, path string
		status             int
		body               string
		wantErr            bool
	}{
		{"an order", http.MethodGet, "/orders/o-1", http.StatusOK, order, false},
		{"not found", http.MethodGet, "/orders/o-1", http.StatusNotFound, `{"error":{"code":"not_found","message":"order not found"}}`, false},
		{"a status not described", http.MethodGet, "/orders/o-1", http.StatusTeapot, `{"error":{"code":"internal","message":"x"}}`, true},
		{"a member not described", http.MethodGet, "/orders/o-1", http.StatusOK, strings.Replace(order, `"id"`, `"secret":1,"id"`, 1), true},
		{"a status not of the enum", http.MethodGet, "/orders/o-1", http.StatusOK, strings.Replace(order, "confirmed", "shipped", 1), true},
		{"an error code not of the enum", http.MethodGet, "/orders/o-1", http.StatusNotFound, `{"error":{"code":"gone","message":"x"}}`, true},
		{"no route, not found", http.MethodGet, "/nosuch", http.StatusNotFound, `{"error":{"code":"not_found","message":"no such route"}}`, false},
		{"no such method", http.MethodDelete, "/orders/o-1", http.StatusMethodNotAllowed, `{"error":{"code":"method_not_allowed","message":"x"}}`, false},
		{"a route served, not described", http.MethodGet, "/orders", http.StatusOK, `[]`, true},
		{"an empty path parameter, refused", http.MethodPost, "/orders//cancel", http.StatusBadRequest, `{"error":{"code":"invalid_request","message":"x"}}`, false},
		{"an empty path parameter, served", http.MethodPost, "/orders//cancel", http.StatusOK, `{}`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.path, nil)
			rec := httptest.NewRecorder()
			rec.Header().Set("Content-Type", "application/json; charset=utf-8")
			rec.WriteHeader(tc.status)
			rec.WriteString(tc.body)
			if err := check(r, req, rec); (err != nil) != tc.wantErr {
				t.Errorf("check: %v, want error %t", err, tc.wantErr)
			}
		})
	}
}
