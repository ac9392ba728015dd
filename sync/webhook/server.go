package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

// Timeouts of the webhook server: senders post small bodies and expect a quick answer.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 90 * time.Second
	shutdownTimeout   = 10 * time.Second
	maxHeaderBytes    = 64 << 10
)

// Server serves a Handler (a Receiver) on its own address until its context ends. It is a
// controller-runtime manager Runnable: add it with mgr.Add when the bind address is not empty.
type Server struct {
	// Addr is the address to listen on, such as ":9443".
	Addr string
	// Handler answers every request, usually a *Receiver.
	Handler http.Handler
	// NeedLeader makes the manager start the server only on the elected leader, for a Trigger
	// that only works there (one that feeds the controller's queue in memory, say).
	NeedLeader bool
}

// NeedLeaderElection tells the manager whether to run the server on the leader only.
func (s *Server) NeedLeaderElection() bool { return s.NeedLeader }

// Start listens on Addr and serves until ctx ends, then lets requests in flight finish for a
// few seconds. Requests see ctx's values (its logger) but not its cancellation.
func (s *Server) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("listen for webhooks on %s: %w", s.Addr, err)
	}
	return s.serve(ctx, ln)
}

func (s *Server) serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.Handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	stopped := make(chan error, 1)
	failed := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
		case <-failed:
			return
		}
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		stopped <- srv.Shutdown(shutdownCtx)
	}()
	logf.FromContext(ctx).Info("Serving GitSync webhooks", "address", ln.Addr().String())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		close(failed)
		return fmt.Errorf("serve webhooks on %s: %w", ln.Addr(), err)
	}
	if err := <-stopped; err != nil {
		return fmt.Errorf("shut down the webhook server on %s: %w", ln.Addr(), err)
	}
	return nil
}
