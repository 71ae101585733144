package hosts_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// natsURL is the backends host's NATS, as env/daprshop.env names it.
const natsURL = "nats://" + backendsIP + ":4222"

// TestAcrossHosts runs daprshop with each service on a host of its own, as
// the units run it on VMs: mTLS from sentry, tokens, access control.
func TestAcrossHosts(t *testing.T) {
	v := startVMs(t)
	if err := v.checkSidecars(); err != nil {
		t.Fatal(err)
	}
	order, inventory, notification := v.apps["order"], v.apps["inventory"], v.apps["notification"]

	t.Run("order is confirmed and notified across hosts", func(t *testing.T) {
		// The customer's client listens with NATS credentials of its own,
		// which notification signs with the deployment's keys.
		user, err := nkeys.CreateUser()
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := user.PublicKey()
		var creds struct{ JWT string }
		if status := call(t, notification, http.MethodPost, "/notifications/credentials", `{"customerId":"c-hosts","publicKey":"`+pub+`"}`, &creds); status != http.StatusCreated {
			t.Fatalf("POST /notifications/credentials: %d, want 201", status)
		}
		nc, err := nats.Connect(natsURL, nats.UserJWT(func() (string, error) { return creds.JWT, nil }, user.Sign))
		if err != nil {
			t.Fatalf("connect to NATS with the customer's credentials: %v", err)
		}
		defer nc.Close()
		sub, err := nc.SubscribeSync("notifications.c-hosts")
		if err != nil {
			t.Fatal(err)
		}
		before := item(t, inventory, "SKU-1")

		var placed struct{ ID, Status string }
		status := call(t, order, http.MethodPost, "/orders", `{"customerId":"c-hosts","items":[{"sku":"SKU-1","quantity":2}]}`, &placed)
		if status != http.StatusCreated || placed.Status != "confirmed" {
			t.Fatalf("POST /orders: %d %+v, want 201 confirmed", status, placed)
		}
		if status := call(t, order, http.MethodGet, "/orders/"+placed.ID, "", nil); status != http.StatusOK {
			t.Errorf("GET /orders/%s: %d, want 200", placed.ID, status)
		}

		// Exactly one notification reaches the customer.
		if _, err := sub.NextMsg(60 * time.Second); err != nil {
			t.Fatalf("no notification on NATS: %v", err)
		}
		if msg, err := sub.NextMsg(3 * time.Second); err == nil {
			t.Errorf("a second notification: %s", msg.Data)
		}
		var listed struct{ Notifications []json.RawMessage }
		call(t, notification, http.MethodGet, "/notifications?customerId=c-hosts", "", &listed)
		if len(listed.Notifications) != 1 {
			t.Errorf("notification lists %d notifications, want 1", len(listed.Notifications))
		}

		// Stock is conserved: what left available is reserved.
		after := item(t, inventory, "SKU-1")
		if after.Available != before.Available-2 || after.Reserved != before.Reserved+2 {
			t.Errorf("SKU-1 before %+v, after %+v: want 2 moved from available to reserved", before, after)
		}
	})

	t.Run("NATS refuses a client without credentials", func(t *testing.T) {
		nc, err := nats.Connect(natsURL, nats.NoReconnect())
		if err == nil {
			nc.Close()
		}
		if !errors.Is(err, nats.ErrAuthorization) {
			t.Errorf("connect without credentials: got %v, want %v", err, nats.ErrAuthorization)
		}
	})

	t.Run("a call to daprd without the Dapr API token is refused", func(t *testing.T) {
		if err := expectStatus(order.host.client(), order.daprURL()+"/v1.0/metadata", "", "", http.StatusUnauthorized); err != nil {
			t.Error(err)
		}
		if err := expectStatus(order.host.client(), order.daprURL()+"/v1.0/metadata", order.daprToken, "", http.StatusOK); err != nil {
			t.Error(err)
		}
	})

	t.Run("a call to an app without a bearer token is refused", func(t *testing.T) {
		for _, a := range []*vmApp{order, inventory, notification} {
			path := map[string]string{"order": "/orders/o-1", "inventory": "/items", "notification": "/notifications"}[a.id]
			if err := expectStatus(a.host.client(), a.appURL()+path, "", "", http.StatusUnauthorized); err != nil {
				t.Error(err)
			}
		}
	})

	t.Run("only order may invoke inventory", func(t *testing.T) {
		if err := expectStatus(notification.host.client(), notification.daprURL()+"/v1.0/invoke/inventory/method/items", notification.daprToken, v.issuer.Operator(operatorSubject), http.StatusForbidden); err != nil {
			t.Errorf("notification invokes inventory: %v", err)
		}
		if err := expectStatus(order.host.client(), order.daprURL()+"/v1.0/invoke/inventory/method/items", order.daprToken, v.issuer.Operator(operatorSubject), http.StatusOK); err != nil {
			t.Errorf("order invokes inventory: %v", err)
		}
	})

	// Last: it takes inventory's host off the network.
	t.Run("an unreachable sidecar is reported by host", func(t *testing.T) {
		inventory.host.cutLink(t)
		defer inventory.host.mendLink(t)
		err := v.checkSidecars()
		if err == nil || !strings.Contains(err.Error(), "host inventory") {
			t.Fatalf("checkSidecars: %v, want it to name host inventory", err)
		}
		t.Logf("as reported: %v", err)
		if status := call(t, order, http.MethodPost, "/orders", `{"customerId":"c-cut","items":[{"sku":"SKU-2","quantity":1}]}`, nil); status == http.StatusCreated {
			t.Errorf("POST /orders with inventory unreachable: 201")
		}
	})
}

type stock struct{ Available, Reserved int }

func item(t *testing.T, inventory *vmApp, sku string) stock {
	t.Helper()
	var s stock
	if status := call(t, inventory, http.MethodGet, "/items/"+sku, "", &s); status != http.StatusOK {
		t.Fatalf("GET /items/%s: %d", sku, status)
	}
	return s
}

// call sends a request to an app's own API from inside its host, with the
// app token its sidecar would send and the operator's bearer token, and decodes a 2xx answer into out. A
// request that gets no answer counts as status 0.
func call(t *testing.T, a *vmApp, method, path, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, a.appURL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("dapr-api-token", a.appToken)
	req.Header.Set("Authorization", "Bearer "+a.bearer)
	client := a.host.client()
	client.Timeout = 30 * time.Second
	resp, err := client.Do(req)
	if err != nil {
		t.Logf("%s %s on %s: %v", method, path, a.id, err)
		return 0
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.NewDecoder(bytes.NewReader(data)).Decode(out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, data)
		}
	}
	if resp.StatusCode >= 300 {
		t.Logf("%s %s on %s: %d %s", method, path, a.id, resp.StatusCode, data)
	}
	return resp.StatusCode
}
