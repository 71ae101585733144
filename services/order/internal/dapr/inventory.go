// Package dapr connects the order service to the rest of the system through
// its Dapr sidecar: the inventory service by service invocation, and orders
// and their events through the state store and its transactional outbox.
package dapr

import (
	"context"
	"encoding/json"
	"fmt"

	sdk "github.com/dapr/go-sdk/client"

	"github.com/daprshop/daprshop/internal/inventoryapi"
	"github.com/daprshop/daprshop/services/order/internal/order"
)

// Inventory is an order.Inventory that invokes the inventory app.
type Inventory struct {
	client sdk.Client
	appID  string
}

// NewInventory returns an Inventory invoking the app with id appID.
func NewInventory(client sdk.Client, appID string) *Inventory {
	return &Inventory{client: client, appID: appID}
}

// Reserve asks inventory to hold the stock of lines for orderID.
func (inv *Inventory) Reserve(ctx context.Context, orderID string, lines []order.Line) error {
	var res inventoryapi.ReserveResult
	if err := inv.invoke(ctx, inventoryapi.ReservePath(orderID), lines, &res); err != nil {
		return err
	}
	switch res.Outcome {
	case inventoryapi.OutcomeReserved:
		return nil
	case inventoryapi.OutcomeInsufficientStock:
		short := &order.InsufficientStockError{}
		for _, s := range res.Shortages {
			short.Shortages = append(short.Shortages, order.Shortage{SKU: s.SKU, Requested: s.Requested, Available: s.Available})
		}
		return short
	case inventoryapi.OutcomeUnknownSKU:
		return &order.UnknownSKUError{SKU: res.UnknownSKU}
	default:
		return fmt.Errorf("reserve %s: unexpected outcome %q", orderID, res.Outcome)
	}
}

// Release asks inventory to give back what orderID holds.
func (inv *Inventory) Release(ctx context.Context, orderID string, lines []order.Line) error {
	return inv.invoke(ctx, inventoryapi.ReleasePath(orderID), lines, nil)
}

func (inv *Inventory) invoke(ctx context.Context, method string, lines []order.Line, out any) error {
	req := inventoryapi.ReserveRequest{Items: make([]inventoryapi.Line, len(lines))}
	for i, l := range lines {
		req.Items[i] = inventoryapi.Line{SKU: l.SKU, Quantity: l.Quantity}
	}
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("encode %s: %w", method, err)
	}
	resp, err := inv.client.InvokeMethodWithContent(ctx, inv.appID, method, "post",
		&sdk.DataContent{ContentType: "application/json", Data: body})
	if err != nil {
		return fmt.Errorf("invoke %s/%s: %w", inv.appID, method, err)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(resp, out); err != nil {
		return fmt.Errorf("decode %s answer: %w", method, err)
	}
	return nil
}
