// Package api holds the OpenAPI documents of daprshop's three services,
// order.yaml, inventory.yaml and notification.yaml (with what they share
// in common.yaml): every route each serves, and every answer it gives,
// errors included. The services' handler tests keep them true (apitest).
package api

import "embed"

// Documents are the YAML documents, by file name.
//
//go:embed *.yaml
var Documents embed.FS
