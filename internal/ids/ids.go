// Package ids is the one shape of every identifier daprshop takes from a
// client (customer ids, SKUs, order ids) and passes between its services.
// The shape keeps them safe wherever they end up: in state keys (no "||",
// Dapr's key separator), in NATS subjects (no ".", which would split a
// customer's subject notifications.<customerId> into more tokens, so that
// "a.b" lands under another customer's wildcard and "a." under none), and
// in URL paths.
package ids

import "regexp"

// Rule says the shape in words, for error messages.
const Rule = "must be 1-64 letters, digits, '_' or '-', starting with a letter or digit"

var pattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// Valid reports whether id has the shape.
func Valid(id string) bool { return pattern.MatchString(id) }
