// Package httpclient builds the HTTP clients of the prometheus and web metric providers:
// TLS verification that can be skipped, extra headers, basic auth and OAuth2 client credentials,
// redirects only within the same host, and a bounded response body.
package httpclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// Shared transports keep connections alive across measurements.
var (
	secureTransport   = newTransport(false)
	insecureTransport = newTransport(true)
)

func newTransport(insecure bool) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if insecure {
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the metric asks for it
	}
	return t
}

// Options say how to reach a metric source.
type Options struct {
	// Insecure skips TLS verification.
	Insecure bool
	// Timeout bounds each request (0: none; the caller's context still applies).
	Timeout time.Duration
	// Headers are added to every request.
	Headers []v1alpha1.WebMetricHeader
	// Auth is basic auth or OAuth2 client credentials; nil for none.
	Auth *v1alpha1.Authentication
	// MaxResponseBytes bounds each response body: reading past it fails with an
	// *ResponseTooLargeError (0: no bound).
	MaxResponseBytes int64
}

// New returns a client for o. ctx is used to fetch OAuth2 tokens.
func New(ctx context.Context, o Options) (*http.Client, error) {
	base := http.RoundTripper(secureTransport)
	if o.Insecure {
		base = insecureTransport
	}
	rt := &headerTransport{base: base, headers: o.Headers, maxBody: o.MaxResponseBytes}
	var transport http.RoundTripper = rt
	if a := o.Auth; a != nil {
		switch {
		case a.Sigv4 != nil:
			return nil, errors.New("sigv4 authentication is not supported")
		case a.OAuth2 != nil && a.OAuth2.TokenURL != "":
			cc := clientcredentials.Config{
				ClientID:     a.OAuth2.ClientID,
				ClientSecret: a.OAuth2.ClientSecret,
				TokenURL:     a.OAuth2.TokenURL,
				Scopes:       a.OAuth2.Scopes,
			}
			tokenCtx := context.WithValue(ctx, oauth2.HTTPClient, &http.Client{Transport: base, Timeout: o.Timeout})
			transport = &oauth2.Transport{Source: cc.TokenSource(tokenCtx), Base: rt}
		case a.BasicAuth != nil && (a.BasicAuth.Username != "" || a.BasicAuth.Password != ""):
			rt.basicUser, rt.basicPassword, rt.basic = a.BasicAuth.Username, a.BasicAuth.Password, true
		}
	}
	return &http.Client{Transport: transport, Timeout: o.Timeout, CheckRedirect: sameHostRedirect}, nil
}

// maxRedirects is how many redirects a request follows, as net/http's default.
const maxRedirects = 10

// sameHostRedirect follows a redirect only to the host (and port) of the original request, with
// the same scheme or from http to https: the headers and credentials added to every request
// must not be sent to another host, nor in clear text after TLS.
func sameHostRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	first := via[0].URL
	if req.URL.Host != first.Host {
		return fmt.Errorf("refused redirect from host %s to another host %s: headers and credentials are only sent to the metric's own host", first.Host, req.URL.Host)
	}
	if req.URL.Scheme != first.Scheme && req.URL.Scheme != "https" {
		return fmt.Errorf("refused redirect from %s to %s on host %s", first.Scheme, req.URL.Scheme, first.Host)
	}
	return nil
}

// ResponseTooLargeError is returned when reading a response body past its bound.
type ResponseTooLargeError struct{ Limit int64 }

func (e *ResponseTooLargeError) Error() string {
	if e.Limit >= 1<<20 && e.Limit%(1<<20) == 0 {
		return fmt.Sprintf("response body is larger than %d MiB", e.Limit>>20)
	}
	return fmt.Sprintf("response body is larger than %d bytes", e.Limit)
}

// limitedBody fails once more than limit bytes have been read.
type limitedBody struct {
	io.ReadCloser
	left, limit int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, &ResponseTooLargeError{Limit: b.limit}
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return n, &ResponseTooLargeError{Limit: b.limit}
	}
	return n, err
}

// headerTransport adds headers and basic auth to each request.
type headerTransport struct {
	base                     http.RoundTripper
	headers                  []v1alpha1.WebMetricHeader
	basic                    bool
	basicUser, basicPassword string
	maxBody                  int64
}

func (t *headerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	for _, h := range t.headers {
		if http.CanonicalHeaderKey(h.Key) == "Host" {
			req.Host = h.Value
			continue
		}
		req.Header.Set(h.Key, h.Value)
	}
	if t.basic {
		req.SetBasicAuth(t.basicUser, t.basicPassword)
	}
	resp, err := t.base.RoundTrip(req)
	if err == nil && t.maxBody > 0 && resp.Body != nil {
		resp.Body = &limitedBody{ReadCloser: resp.Body, left: t.maxBody, limit: t.maxBody}
	}
	return resp, err
}
