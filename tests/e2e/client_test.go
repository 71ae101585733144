package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/daprshop/daprshop/tests/harness/system"
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

// httpClient waits longer than the system may take to answer: an order
// placed while the broker refuses writes is refused after the sidecar's
// publish retries (17 s, components/resiliency.yaml).
var httpClient = &http.Client{Timeout: 30 * time.Second}

// call sends a JSON request and decodes a JSON answer into out (if not nil).
// It returns the status code, and stops the test if there is no answer.
func call(t *testing.T, method, url, body string, out any) int {
	t.Helper()
	status, err := tryCall(t, method, url, body, out)
	if err != nil {
		t.Fatal(err)
	}
	return status
}

// tryCall is call for the goroutines of a load, which must not stop the
// test: it returns the error instead.
func tryCall(t *testing.T, method, url, body string, out any) (int, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := timed(t, req)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: read body: %w", method, url, err)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: answer is not the expected JSON: %w: %s", method, url, err, data)
		}
	}
	return resp.StatusCode, nil
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
