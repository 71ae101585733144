package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/daprshop/daprshop/internal/events"
	"github.com/daprshop/daprshop/internal/ids"
	"github.com/daprshop/daprshop/internal/web"
	"github.com/daprshop/daprshop/services/notification/internal/natsbus"
	"github.com/daprshop/daprshop/services/notification/internal/notification"
)

type handlers struct {
	svc     *notification.Service
	passes  passIssuer // nil: NATS takes no credentials
	logger  *slog.Logger
	metrics *metrics
}

// passIssuer issues a customer's NATS credentials: a user JWT for the
// holder of a user key, allowed to subscribe to that customer's subject
// only (*natsbus.Passes).
type passIssuer interface {
	Issue(customer, userKey string) (jwt string, expires time.Time, err error)
}

// credentialsRequest is the body of POST /notifications/credentials: the
// public half of a NATS user key the client made ("U..."); the private
// half never leaves the client. An operator names the customer.
type credentialsRequest struct {
	PublicKey  string `json:"publicKey"`
	CustomerID string `json:"customerId"`
}

// credentialsResponse is the answer: the user JWT to connect to NATS with
// (signing the server's nonce with the private key), and when it expires.
type credentialsResponse struct {
	JWT       string    `json:"jwt"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// issueCredentials answers NATS credentials for the token's customer: they
// may subscribe to notifications.<customerId> and to nothing else.
func (h handlers) issueCredentials(c *gin.Context) {
	if h.passes == nil {
		writeError(c, errNoCredentials)
		return
	}
	var req credentialsRequest
	if !web.DecodeJSON(c, &req) {
		return
	}
	customer, ok := web.ActingCustomer(c, req.CustomerID)
	if !ok {
		return
	}
	if !ids.Valid(customer) {
		writeError(c, notification.ErrInvalidCustomer)
		return
	}
	token, expires, err := h.passes.Issue(customer, req.PublicKey)
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusCreated, credentialsResponse{JWT: token, ExpiresAt: expires})
}

// listNotifications answers a page of a customer's history, newest first:
// ?limit= (at most notification.MaxHistoryPage) of them, older than
// ?cursor= (what the previous page said in "older").
func (h handlers) listNotifications(c *gin.Context) {
	limit := 0
	if v, ok := c.GetQuery("limit"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(c, errLimit)
			return
		}
		limit = n
	}
	// The history is the token's customer's; naming another customer
	// finds nothing, as if it had none.
	customer, ok := web.Caller(c).Customer(c.Query("customerId"))
	if !ok {
		writeError(c, errAnotherCustomer)
		return
	}
	page, err := h.svc.History(c, customer, c.Query("cursor"), limit)
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, page)
}

// cloudEvent is the part of the CloudEvents envelope Dapr delivers that the
// handler reads.
type cloudEvent struct {
	ID    string          `json:"id"`
	Topic string          `json:"topic"`
	Data  json.RawMessage `json:"data"`
}

// Dapr's pub/sub answers: SUCCESS acknowledges, RETRY redelivers later, DROP
// gives up on the event (to the dead-letter topic when one is configured).
const (
	statusSuccess = "SUCCESS"
	statusRetry   = "RETRY"
	statusDrop    = "DROP"
)

// What became of an event the service was handed: the label it is counted
// by, and what Dapr is answered (answers).
const (
	outcomeDelivered = "delivered" // the notification went out
	outcomeDuplicate = "duplicate" // it had gone out before
	outcomeOutdated  = "outdated"  // a later change of the order was told
	outcomeKept      = "kept"      // a dead letter, kept for an operator
	outcomeRetry     = "retry"     // not now: deliver it again later
	outcomeDropped   = "dropped"   // never: it cannot be handled
)

// answers is the service's one table from an event's outcome to Dapr's
// pub/sub answer.
var answers = map[string]string{
	outcomeDelivered: statusSuccess,
	outcomeDuplicate: statusSuccess,
	outcomeOutdated:  statusSuccess,
	outcomeKept:      statusSuccess,
	outcomeRetry:     statusRetry,
	outcomeDropped:   statusDrop,
}

// answer writes Dapr's pub/sub answer for outcome. The status code stays
// 200 so that Dapr reads the body.
func answer(c *gin.Context, outcome string) {
	c.JSON(http.StatusOK, gin.H{"status": answers[outcome]})
}

// outcomes are what Handle's outcomes are answered as.
var outcomes = map[notification.Outcome]string{
	notification.Delivered: outcomeDelivered,
	notification.Duplicate: outcomeDuplicate,
	notification.Outdated:  outcomeOutdated,
}

// orderEvent hands an order event to the service, and answers Dapr with
// what became of it.
func (h handlers) orderEvent(c *gin.Context) {
	var ce cloudEvent
	var e events.Order
	if err := c.ShouldBindJSON(&ce); err != nil || json.Unmarshal(ce.Data, &e) != nil {
		h.logger.ErrorContext(c, "dropping undecodable event", slog.String("event_id", ce.ID), slog.Any("error", err))
		h.answerEvent(c, ce.ID, e.EventID, outcomeDropped)
		return
	}
	outcome, err := h.svc.Handle(c, e)
	switch {
	case err == nil:
		h.answerEvent(c, ce.ID, e.EventID, outcomes[outcome])
	case errors.Is(err, notification.ErrMalformedEvent):
		h.logger.ErrorContext(c, "dropping malformed event", slog.String("event_id", ce.ID), slog.Any("error", err))
		h.answerEvent(c, ce.ID, e.EventID, outcomeDropped)
	case errors.Is(err, notification.ErrInProgress):
		h.logger.InfoContext(c, "event is being handled by another delivery, will retry", slog.String("event_id", ce.ID))
		h.answerEvent(c, ce.ID, e.EventID, outcomeRetry)
	default:
		h.logger.WarnContext(c, "event will be retried", slog.String("event_id", ce.ID), slog.Any("error", err))
		h.answerEvent(c, ce.ID, e.EventID, outcomeRetry)
	}
}

// answerEvent answers the delivery of event id (the order event
// orderEventID) with outcome, counts it, and logs it at debug level: what
// became of one event can be followed from its broker to its notification.
func (h handlers) answerEvent(c *gin.Context, id, orderEventID, outcome string) {
	h.metrics.events.WithLabelValues(outcome).Inc()
	h.logger.DebugContext(c, "order event answered", slog.String("event_id", id), slog.String("order_event", orderEventID), slog.String("outcome", outcome))
	answer(c, outcome)
}

func (h handlers) listDeadLetters(c *gin.Context) {
	list, err := h.svc.DeadLetters(c)
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"deadLetters": list})
}

// redrive puts a dead letter's event back on the stream (202: it will be
// handled again, asynchronously) and forgets the dead letter.
func (h handlers) redrive(c *gin.Context) {
	if err := h.svc.Redrive(c, c.Param("id")); err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"redriven": c.Param("id")})
}

// deadLetter keeps an event from the dead-letter topic for an operator. One
// that cannot be decoded, or has no id, is logged and dropped; one that
// cannot be stored yet is retried.
func (h handlers) deadLetter(c *gin.Context) {
	var ce cloudEvent
	if err := c.ShouldBindJSON(&ce); err != nil {
		h.logger.ErrorContext(c, "dropping undecodable dead letter", slog.Any("error", err))
		answer(c, outcomeDropped)
		return
	}
	h.metrics.deadLetters.Inc()
	// The start of the event is enough to find it; a poison message can be
	// large, and is logged at every redelivery.
	h.logger.ErrorContext(c, "event dead-lettered", slog.String("event_id", ce.ID), slog.String("topic", ce.Topic),
		slog.String("data", string(ce.Data[:min(len(ce.Data), maxLoggedData)])))
	d := notification.DeadLetter{ID: ce.ID, Topic: ce.Topic, Data: ce.Data, ReceivedAt: time.Now().UTC()}
	switch err := h.svc.DeadLetter(c, d); {
	case errors.Is(err, notification.ErrMalformedEvent):
		// Without an id it cannot be kept; a retry would not give it one.
		h.logger.ErrorContext(c, "dropping malformed dead letter", slog.Any("error", err))
		answer(c, outcomeDropped)
	case err != nil:
		h.logger.ErrorContext(c, "keeping dead letter, will retry", slog.String("event_id", ce.ID), slog.Any("error", err))
		answer(c, outcomeRetry)
	default:
		answer(c, outcomeKept)
	}
}

// maxLoggedData is how much of a dead letter's data is logged.
const maxLoggedData = 512

// Errors the handlers find themselves, answered through writeError as the
// service's are.
var (
	errNoCredentials   = errors.New("this deployment's NATS takes no credentials")
	errAnotherCustomer = errors.New("no notifications for that customer")
	errLimit           = fmt.Errorf("%w: limit must be between 1 and %d", notification.ErrInvalidPage, notification.MaxHistoryPage)
)

// writeError is the service's one table from errors to HTTP answers.
func writeError(c *gin.Context, err error) {
	_ = c.Error(err)
	switch {
	case errors.Is(err, notification.ErrInvalidCustomer):
		web.WriteError(c, http.StatusBadRequest, web.CodeInvalid, "customerId: "+ids.Rule)
	case errors.Is(err, notification.ErrInvalidPage):
		web.WriteError(c, http.StatusBadRequest, web.CodeInvalid, err.Error())
	case errors.Is(err, natsbus.ErrInvalidUserKey):
		web.WriteError(c, http.StatusBadRequest, web.CodeInvalid, "publicKey: "+err.Error())
	case errors.Is(err, natsbus.ErrTooManyPasses):
		c.Header("Retry-After", strconv.Itoa(int(natsbus.IssueEvery.Seconds())))
		web.WriteError(c, http.StatusTooManyRequests, web.CodeTooManyRequests, err.Error())
	case errors.Is(err, notification.ErrNoSuchDeadLetter):
		web.WriteError(c, http.StatusNotFound, web.CodeNotFound, "no such dead letter")
	case errors.Is(err, errNoCredentials), errors.Is(err, errAnotherCustomer):
		web.WriteError(c, http.StatusNotFound, web.CodeNotFound, err.Error())
	default:
		web.WriteError(c, http.StatusInternalServerError, web.CodeInternal, "internal error")
	}
}
