// Package httpclient builds the HTTP clients of the prometheus and web metric providers:
// TLS verification that can be skipped, extra headers, basic auth and OAuth2 client credentials.
package httpclient

import (
	"context"
	"crypto/tls"
	"errors"
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
}

// New returns a client for o. ctx is used to fetch OAuth2 tokens.
func New(ctx context.Context, o Options) (*http.Client, error) {
	base := http.RoundTripper(secureTransport)
	if o.Insecure {
		base = insecureTransport
	}
	rt := &headerTransport{base: base, headers: o.Headers}
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
	return &http.Client{Transport: transport, Timeout: o.Timeout}, nil
}

// headerTransport adds headers and basic auth to each request.
type headerTransport struct {
	base                     http.RoundTripper
	headers                  []v1alpha1.WebMetricHeader
	basic                    bool
	basicUser, basicPassword string
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
	return t.base.RoundTrip(req)
}
