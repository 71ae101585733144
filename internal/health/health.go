// Package health serves the liveness and readiness probes of every service.
package health

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/daprshop/daprshop/internal/web"
)

// Check reports whether a dependency is usable; nil means ready.
type Check func(ctx context.Context) error

// Register adds GET /healthz (the process is alive) and GET /readyz (every
// check passes) to r.
func Register(r gin.IRoutes, checks ...Check) {
	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
		defer cancel()
		for _, check := range checks {
			if err := check(ctx); err != nil {
				web.WriteError(c, http.StatusServiceUnavailable, web.CodeUnavailable, err.Error())
				return
			}
		}
		c.JSON(http.StatusOK, gin.H{"status": "ready"})
	})
}

// Sidecar checks the Dapr sidecar at httpAddr through its outbound health
// endpoint, which turns healthy once the sidecar's components are ready
// without waiting for this app: using /v1.0/healthz here would deadlock,
// since that one waits for the app to be ready.
func Sidecar(client *http.Client, httpAddr string) Check {
	url := "http://" + httpAddr + "/v1.0/healthz/outbound"
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("dapr sidecar: %w", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusOK {
			return fmt.Errorf("dapr sidecar: outbound health answered %d", resp.StatusCode)
		}
		return nil
	}
}
