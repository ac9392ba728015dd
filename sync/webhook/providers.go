package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
)

// Provider names, the provider label of the metric and Event.Provider.
const (
	ProviderGitHub    = "github"
	ProviderGitLab    = "gitlab"
	ProviderGitea     = "gitea"
	ProviderBitbucket = "bitbucket"
	ProviderGeneric   = "generic"
	// ProviderUnknown labels requests whose headers name no provider.
	ProviderUnknown = "unknown"
)

// provider is one kind of sender: how to recognise it, authenticate it and read its payloads.
type provider struct {
	name string
	// detect reports whether the headers are this sender's.
	detect func(h http.Header) bool
	// secret picks this sender's secret.
	secret func(s Secrets) string
	// verify checks the request against a non-empty secret; its error is the 401 body.
	verify func(h http.Header, body []byte, secret string) error
	// parse reads an authenticated request.
	parse func(h http.Header, body []byte) (parsed, error)
	// deliveryHeader holds the sender's id of the delivery, for logs.
	deliveryHeader string
}

// parsed is what an authenticated request asks for: events to trigger, or, when there are none,
// why it is ignored.
type parsed struct {
	events  []Event
	ignored string
}

// providers in detection order: Gitea (and Forgejo) also send X-GitHub-Event, so they come
// before GitHub; the generic endpoint has no event header and comes last.
var providers = []provider{
	{
		name:           ProviderGitea,
		detect:         hasHeader("X-Gitea-Event"),
		secret:         func(s Secrets) string { return s.Gitea },
		verify:         verifyHMAC("X-Gitea-Signature", ""),
		parse:          parseGitea,
		deliveryHeader: "X-Gitea-Delivery",
	},
	{
		name:           ProviderGitHub,
		detect:         hasHeader("X-GitHub-Event"),
		secret:         func(s Secrets) string { return s.GitHub },
		verify:         verifyHMAC("X-Hub-Signature-256", "sha256="),
		parse:          parseGitHub,
		deliveryHeader: "X-GitHub-Delivery",
	},
	{
		name:           ProviderGitLab,
		detect:         hasHeader("X-Gitlab-Event"),
		secret:         func(s Secrets) string { return s.GitLab },
		verify:         verifyGitLabToken,
		parse:          parseGitLab,
		deliveryHeader: "X-Gitlab-Event-UUID",
	},
	{
		name:           ProviderBitbucket,
		detect:         hasHeader("X-Event-Key"),
		secret:         func(s Secrets) string { return s.Bitbucket },
		verify:         verifyHMAC("X-Hub-Signature", "sha256="),
		parse:          parseBitbucket,
		deliveryHeader: "X-Request-UUID",
	},
	{
		name:           ProviderGeneric,
		detect:         func(h http.Header) bool { _, ok := bearerToken(h); return ok },
		secret:         func(s Secrets) string { return s.Generic },
		verify:         verifyBearer,
		parse:          parseGeneric,
		deliveryHeader: "X-Request-Id",
	},
}

// detect returns the provider whose headers the request carries, or false for none.
func detect(h http.Header) (provider, bool) {
	for _, p := range providers {
		if p.detect(h) {
			return p, true
		}
	}
	return provider{name: ProviderUnknown}, false
}

func hasHeader(name string) func(http.Header) bool {
	return func(h http.Header) bool { return strings.TrimSpace(h.Get(name)) != "" }
}

var errSignatureMismatch = errors.New("signature does not match")

// verifyHMAC checks a header holding prefix followed by the hex HMAC-SHA256 of the body.
func verifyHMAC(header, prefix string) func(http.Header, []byte, string) error {
	return func(h http.Header, body []byte, secret string) error {
		value := strings.TrimSpace(h.Get(header))
		if value == "" {
			return errors.New("missing " + header + " header")
		}
		digest, ok := strings.CutPrefix(value, prefix)
		if !ok {
			return errors.New(header + " is not of the form " + prefix + "<hex>")
		}
		got, err := hex.DecodeString(digest)
		if err != nil {
			return errors.New(header + " is not hex")
		}
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		if !hmac.Equal(got, mac.Sum(nil)) {
			return errSignatureMismatch
		}
		return nil
	}
}

func verifyGitLabToken(h http.Header, _ []byte, secret string) error {
	token := h.Get("X-Gitlab-Token")
	if token == "" {
		return errors.New("missing X-Gitlab-Token header")
	}
	if !equalSecret(token, secret) {
		return errors.New("token does not match")
	}
	return nil
}

func verifyBearer(h http.Header, _ []byte, secret string) error {
	token, ok := bearerToken(h)
	if !ok || token == "" {
		return errors.New("missing bearer token")
	}
	if !equalSecret(token, secret) {
		return errors.New("bearer token does not match")
	}
	return nil
}

// bearerToken returns the token of an "Authorization: Bearer <token>" header; the scheme is
// case-insensitive.
func bearerToken(h http.Header) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(token), true
}

// equalSecret compares in constant time, also in the length: both sides are hashed first.
func equalSecret(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}
