package main

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/daprshop/daprshop/internal/web"
	"github.com/daprshop/daprshop/services/order/internal/order"
)

type handlers struct {
	svc *order.Service
}

// placeOrderRequest is the body of POST /orders. The order is the token's
// customer's: customerId may be left out, and if given must name that
// customer.
type placeOrderRequest struct {
	CustomerID string       `json:"customerId"`
	Items      []order.Line `json:"items"`
}

func (h handlers) placeOrder(c *gin.Context) {
	var req placeOrderRequest
	if !web.DecodeJSON(c, &req) {
		return
	}
	customer, ok := web.ActingCustomer(c, req.CustomerID)
	if !ok {
		return
	}
	o, err := h.svc.Place(c, order.PlaceRequest{
		IdempotencyKey: c.GetHeader("Idempotency-Key"),
		CustomerID:     customer,
		Items:          req.Items,
	})
	if err != nil {
		writeError(c, err)
		return
	}
	c.Header("Location", "/orders/"+o.ID)
	c.JSON(http.StatusCreated, o)
}

func (h handlers) getOrder(c *gin.Context) {
	customer, ok := web.Caller(c).Customer(order.AnyCustomer)
	if !ok {
		writeError(c, order.ErrNotFound)
		return
	}
	o, err := h.svc.Get(c, c.Param("id"), customer)
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, o)
}

func (h handlers) cancelOrder(c *gin.Context) {
	customer, ok := web.Caller(c).Customer(order.AnyCustomer)
	if !ok {
		writeError(c, order.ErrNotFound)
		return
	}
	o, err := h.svc.Cancel(c, c.Param("id"), customer)
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, o)
}

// insufficientStockBody is the 409 answer: the error envelope plus what ran
// short and the id of the rejected order.
type insufficientStockBody struct {
	Error     web.Error        `json:"error"`
	OrderID   string           `json:"orderId"`
	Shortages []order.Shortage `json:"shortages"`
}

// The error codes order answers beside web's, part of its API as they are.
const (
	codeInsufficientStock = "insufficient_stock"
	codeUnknownSKU        = "unknown_sku"
	codeKeyReused         = "idempotency_key_reused"
	codeNotCancellable    = "not_cancellable"
)

// writeError is the service's one table from domain errors to HTTP answers.
func writeError(c *gin.Context, err error) {
	_ = c.Error(err)
	var short *order.InsufficientStockError
	var unknown *order.UnknownSKUError
	switch {
	case errors.As(err, &short):
		c.AbortWithStatusJSON(http.StatusConflict, insufficientStockBody{
			Error:     web.Error{Code: codeInsufficientStock, Message: err.Error()},
			OrderID:   short.OrderID,
			Shortages: short.Shortages,
		})
	case errors.As(err, &unknown):
		web.WriteError(c, http.StatusUnprocessableEntity, codeUnknownSKU, err.Error())
	case errors.Is(err, order.ErrInvalid):
		web.WriteError(c, http.StatusBadRequest, web.CodeInvalid, err.Error())
	case errors.Is(err, order.ErrNotFound):
		web.WriteError(c, http.StatusNotFound, web.CodeNotFound, "order not found")
	case errors.Is(err, order.ErrKeyReused):
		web.WriteError(c, http.StatusUnprocessableEntity, codeKeyReused, err.Error())
	case errors.Is(err, order.ErrNotCancellable):
		web.WriteError(c, http.StatusConflict, codeNotCancellable, err.Error())
	default:
		web.WriteError(c, http.StatusInternalServerError, web.CodeInternal, "internal error")
	}
}
