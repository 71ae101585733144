package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/daprshop/daprshop/tests/e2e/system"
)

type orderJSON struct {
	ID         string `json:"id"`
	CustomerID string `json:"customerId"`
	Status     string `json:"status"`
	Items      []struct {
		SKU      string `json:"sku"`
		Quantity int    `json:"quantity"`
	} `json:"items"`
}

type itemJSON struct {
	SKU       string `json:"sku"`
	Available int    `json:"available"`
	Reserved  int    `json:"reserved"`
}

var httpClient = &http.Client{Timeout: 15 * time.Second}

// call sends a JSON request and decodes a JSON answer into out (if not nil).
// It returns the status code.
func call(t *testing.T, method, url, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := timed(t, req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: answer is not the expected JSON: %v: %s", method, url, err, data)
		}
	}
	return resp.StatusCode
}

func getItem(t *testing.T, inventory *system.App, sku string) itemJSON {
	t.Helper()
	var item itemJSON
	if status := call(t, http.MethodGet, inventory.URL+"/items/"+sku, "", &item); status != http.StatusOK {
		t.Fatalf("GET /items/%s: got status %d, want 200", sku, status)
	}
	return item
}

// timed sends req and records its latency for the test's scenario, if any.
// A transport error or a 5xx counts as an error; 4xx answers are what many
// scenarios ask for.
func timed(t *testing.T, req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := httpClient.Do(req)
	if s := scenarioOf(t); s != nil {
		s.Request(time.Since(start), err != nil || resp.StatusCode >= 500)
	}
	return resp, err
}
