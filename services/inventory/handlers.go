package main

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/daprshop/daprshop/internal/inventoryapi"
	"github.com/daprshop/daprshop/internal/web"
	"github.com/daprshop/daprshop/services/inventory/internal/inventory"
)

type handlers struct {
	svc *inventory.Service
}

// itemJSON is an item as the API shows it: the per-order holds stay internal.
type itemJSON struct {
	SKU       string `json:"sku"`
	Available int    `json:"available"`
	Reserved  int    `json:"reserved"`
}

func toJSON(item inventory.Item) itemJSON {
	return itemJSON{SKU: item.SKU, Available: item.Available, Reserved: item.Reserved}
}

func (h handlers) listItems(c *gin.Context) {
	items, err := h.svc.List(c)
	if err != nil {
		writeError(c, err)
		return
	}
	out := make([]itemJSON, len(items))
	for i, item := range items {
		out[i] = toJSON(item)
	}
	c.JSON(http.StatusOK, gin.H{"items": out})
}

func (h handlers) getItem(c *gin.Context) {
	item, err := h.svc.Get(c, c.Param("sku"))
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, toJSON(item))
}

func (h handlers) restock(c *gin.Context) {
	var req struct {
		Quantity int `json:"quantity"`
	}
	if !web.DecodeJSON(c, &req) {
		return
	}
	item, err := h.svc.Restock(c, c.Param("sku"), req.Quantity)
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, toJSON(item))
}

func (h handlers) reserve(c *gin.Context) {
	var req inventoryapi.ReserveRequest
	if !web.DecodeJSON(c, &req) {
		return
	}
	err := h.svc.Reserve(c, c.Param("orderId"), toLines(req.Items))
	var short *inventory.InsufficientStockError
	var unknown *inventory.UnknownSKUError
	switch {
	case err == nil:
		c.JSON(http.StatusOK, inventoryapi.ReserveResult{Outcome: inventoryapi.OutcomeReserved})
	case errors.As(err, &short):
		res := inventoryapi.ReserveResult{Outcome: inventoryapi.OutcomeInsufficientStock}
		for _, s := range short.Shortages {
			res.Shortages = append(res.Shortages, inventoryapi.Shortage{SKU: s.SKU, Requested: s.Requested, Available: s.Available})
		}
		c.JSON(http.StatusOK, res)
	case errors.As(err, &unknown):
		c.JSON(http.StatusOK, inventoryapi.ReserveResult{Outcome: inventoryapi.OutcomeUnknownSKU, UnknownSKU: unknown.SKU})
	default:
		writeError(c, err)
	}
}

func (h handlers) release(c *gin.Context) {
	var req inventoryapi.ReserveRequest
	if !web.DecodeJSON(c, &req) {
		return
	}
	skus := make([]string, len(req.Items))
	for i, l := range req.Items {
		skus[i] = l.SKU
	}
	if err := h.svc.Release(c, c.Param("orderId"), skus); err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"released": true})
}

func toLines(items []inventoryapi.Line) []inventory.Line {
	lines := make([]inventory.Line, len(items))
	for i, l := range items {
		lines[i] = inventory.Line{SKU: l.SKU, Quantity: l.Quantity}
	}
	return lines
}

// The error codes inventory answers beside web's, part of its API as they
// are.
const (
	codeUnknownSKU = "unknown_sku"
	codeBusy       = "busy"
)

// writeError is the service's one table from domain errors to HTTP answers.
func writeError(c *gin.Context, err error) {
	_ = c.Error(err)
	switch {
	case errors.Is(err, inventory.ErrUnknownSKU):
		web.WriteError(c, http.StatusNotFound, codeUnknownSKU, err.Error())
	case errors.Is(err, inventory.ErrInvalid):
		web.WriteError(c, http.StatusBadRequest, web.CodeInvalid, err.Error())
	case errors.Is(err, inventory.ErrContention):
		web.WriteError(c, http.StatusServiceUnavailable, codeBusy, err.Error())
	default:
		web.WriteError(c, http.StatusInternalServerError, web.CodeInternal, "internal error")
	}
}
