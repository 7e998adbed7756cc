// Package serving runs an HTTP server until its context ends, for the
// examples and the apikey command.
package serving

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// ShutdownTimeout is how long Serve waits for the requests under way once
// ctx is done.
const ShutdownTimeout = 5 * time.Second

// Serve serves srv on ln until ctx is done, then shuts it down and returns
// once the requests under way are answered, or ShutdownTimeout has passed
// (then it closes their connections and says so). http.Server.Serve alone
// returns as soon as Shutdown begins: a caller that then closed its
// Manager or database would fail the requests still running and lose
// their last-used times. It returns Serve's error if serving fails.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener) error {
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err // Serve failed; it never returns nil
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(shutdown)
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		_ = srv.Close()
		return fmt.Errorf("shutting down: %w", err)
	}
	return nil
}
