package source

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"golang.org/x/net/proxy"
)

// go-git's ssh transport dials and runs the SSH handshake without the fetch's context: a server
// that accepts the connection and never answers would hold a Fetch forever. Its only hook into
// dialing is a proxy URL, resolved through golang.org/x/net/proxy's registry of schemes. So a
// fetch registers its context under a number, passes "sluice-fetch-dial://<number>" as the proxy,
// and the dialer of that scheme connects directly and closes the connection when the context
// ends, which fails the handshake or any read in progress.
const dialScheme = "sluice-fetch-dial"

var (
	dialContexts sync.Map // number → context.Context
	dialSeq      atomic.Uint64
)

func init() {
	// At init, before any goroutine can read the registry (it has no lock).
	proxy.RegisterDialerType(dialScheme, func(u *url.URL, _ proxy.Dialer) (proxy.Dialer, error) {
		v, ok := dialContexts.Load(u.Host)
		if !ok {
			return nil, fmt.Errorf("ssh dial: no fetch registered as %q", u.Host)
		}
		return boundDialer{ctx: v.(context.Context)}, nil
	})
}

// bindDialer registers ctx for the ssh dialer and returns the proxy options that select it, and
// the function that unregisters it.
func bindDialer(ctx context.Context) (transport.ProxyOptions, func()) {
	id := strconv.FormatUint(dialSeq.Add(1), 10)
	dialContexts.Store(id, ctx)
	return transport.ProxyOptions{URL: dialScheme + "://" + id}, func() { dialContexts.Delete(id) }
}

// boundDialer dials directly, with a connection that lives no longer than ctx.
type boundDialer struct{ ctx context.Context }

func (d boundDialer) Dial(network, addr string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, addr)
}

func (d boundDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopDial := context.AfterFunc(d.ctx, cancel)
	defer stopDial()
	var nd net.Dialer
	conn, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		if d.ctx.Err() != nil {
			return nil, context.Cause(d.ctx)
		}
		return nil, err
	}
	stop := context.AfterFunc(d.ctx, func() { _ = conn.Close() })
	return &boundConn{Conn: conn, stop: stop}, nil
}

// boundConn is a connection that ctx closes when it ends.
type boundConn struct {
	net.Conn
	stop func() bool
}

func (c *boundConn) Close() error {
	c.stop()
	return c.Conn.Close()
}
