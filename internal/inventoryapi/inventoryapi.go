// Package inventoryapi is the wire contract of the inventory methods the order
// service invokes through Dapr: the paths and the request and result bodies.
// Both the inventory handlers and the order service's client use it, so the
// two sides cannot drift apart.
package inventoryapi

// ReservePath and ReleasePath return the method names, relative to the
// inventory app, that reserve and release the stock of one order. Keying them
// by order id makes a retried invocation safe: the inventory service reserves
// each order once.
func ReservePath(orderID string) string { return "reservations/" + orderID }
func ReleasePath(orderID string) string { return "reservations/" + orderID + "/release" }

// Line is a SKU and quantity, as the reserve and release calls carry it:
// the one wire form between order and inventory, whose domains each have a
// Line of their own and translate at their adapters.
type Line struct {
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

// ReserveRequest is the body of a reserve or release call.
type ReserveRequest struct {
	Items []Line `json:"items"`
}

// Outcomes of a reservation. Not having the stock is a normal answer, not a
// failure, so it comes back with status 200: Dapr's gRPC invocation turns
// non-2xx answers into errors that lose the body's structure.
const (
	OutcomeReserved          = "reserved"
	OutcomeInsufficientStock = "insufficient_stock"
	OutcomeUnknownSKU        = "unknown_sku"
)

// ReserveResult is the answer to a reserve call.
type ReserveResult struct {
	Outcome   string     `json:"outcome"`
	Shortages []Shortage `json:"shortages,omitempty"`
	// UnknownSKU names the SKU that does not exist, for OutcomeUnknownSKU.
	UnknownSKU string `json:"unknownSku,omitempty"`
}

// Shortage says how much of a SKU was asked for and how much was
// available, as a reserve call answers it: the wire form of
// inventory.Shortage, translated into order.Shortage by the caller.
type Shortage struct {
	SKU       string `json:"sku"`
	Requested int    `json:"requested"`
	Available int    `json:"available"`
}
