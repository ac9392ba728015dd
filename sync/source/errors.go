package source

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"golang.org/x/crypto/ssh"
)

// fetchError is a failed Fetch: a message free of credentials and, to keep errors.Is working,
// the error it came from, or only a well-known cause when the original text held a secret.
type fetchError struct {
	msg   string
	cause error
}

func (e *fetchError) Error() string { return e.msg }
func (e *fetchError) Unwrap() error { return e.cause }

// knownCauses survive redaction as the cause of a fetchError.
var knownCauses = []error{
	context.DeadlineExceeded, context.Canceled,
	transport.ErrAuthenticationRequired, transport.ErrAuthorizationFailed,
	transport.ErrRepositoryNotFound, transport.ErrEmptyRemoteRepository,
}

// remoteCauses are failures of the network, the server or the credentials: the cache is fine.
var remoteCauses = append([]error{
	transport.ErrInvalidAuthMethod, errHostKey,
	syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.EPIPE, syscall.EHOSTUNREACH, syscall.ENETUNREACH,
}, knownCauses...)

// describe turns the error of a fetch into what Fetch returns: "fetch <url>: <what failed>",
// with the timeout said plainly and credentials removed. A revision error already names the URL
// and is returned as it is.
func describe(ctx context.Context, req Request, timeout time.Duration, err error) error {
	var rev *revisionError
	if errors.As(err, &rev) {
		return rev
	}
	where := "fetch " + safeURL(req.RepoURL)
	if errors.Is(context.Cause(ctx), errTimedOut) {
		return &fetchError{msg: where + ": timed out after " + formatDuration(timeout), cause: context.DeadlineExceeded}
	}
	text := err.Error()
	clean := redact(text, req)
	if clean == text {
		return &fetchError{msg: where + ": " + clean, cause: err}
	}
	var cause error
	for _, known := range knownCauses {
		if causedBy(err, func(e error) bool { return e == known }) {
			cause = known
			break
		}
	}
	return &fetchError{msg: where + ": " + clean, cause: cause}
}

// isCacheError reports whether a failed fetch or checkout may be the cache's fault, so that a
// fresh clone could fix it. Failures of the network, the server, the credentials, the revision
// or the time allowed are not. An unclear failure counts as the cache's: cloning again costs a
// fetch but never loses a cache, as the clone replaces it only once it succeeded.
func isCacheError(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	return !causedBy(err, func(e error) bool {
		for _, remote := range remoteCauses {
			if e == remote {
				return true
			}
		}
		switch e := e.(type) {
		case *revisionError, *githttp.Err, *ssh.ExitError, *net.OpError, *net.DNSError, *url.Error:
			return true
		case net.Error:
			return e.Timeout()
		}
		msg := e.Error()
		return strings.HasPrefix(msg, "ssh: handshake failed") || strings.HasPrefix(msg, "ssh: unable to authenticate")
	})
}

// causedBy walks err's chain, including go-git's error wrappers that have no Unwrap method, and
// reports whether match holds for any error in it.
func causedBy(err error, match func(error) bool) bool {
	for seen := 0; err != nil && seen < 100; seen++ {
		if match(err) {
			return true
		}
		switch e := err.(type) {
		case *plumbing.UnexpectedError:
			err = e.Err
		case *plumbing.PermanentError:
			err = e.Err
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				if causedBy(inner, match) {
					return true
				}
			}
			return false
		default:
			err = errors.Unwrap(err)
		}
	}
	return false
}

var httpUserinfo = regexp.MustCompile(`(https?://)[^/@\s"']*@`)

// redact removes from an error text every credential of the request, as written and in the
// escaped forms URLs use, and the repository URL's user information.
func redact(text string, req Request) string {
	var secrets []string
	if c := req.Credentials; c != nil {
		secrets = append(secrets, c.Password, c.BearerToken)
	}
	if u, err := url.Parse(req.RepoURL); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok {
			secrets = append(secrets, pw)
		} else if u.Scheme == "http" || u.Scheme == "https" {
			secrets = append(secrets, u.User.Username()) // https://<token>@host
		}
	}
	if req.RepoURL != "" {
		text = strings.ReplaceAll(text, req.RepoURL, safeURL(req.RepoURL))
	}
	// net/http prints request URLs as "http://user:***@host/...": drop the user part too.
	text = httpUserinfo.ReplaceAllString(text, "$1")
	for _, s := range secrets {
		if s == "" {
			continue
		}
		for _, form := range []string{s, url.PathEscape(s), url.QueryEscape(s), url.UserPassword("", s).String()[1:]} {
			if form != "" {
				text = strings.ReplaceAll(text, form, "[redacted]")
			}
		}
	}
	return text
}

// safeURL is a repository URL for messages and the cache's config: without user information for
// http and https (a token may be the user), without a password for ssh.
func safeURL(raw string) string {
	u, err := url.Parse(raw)
	if err == nil && u.Scheme != "" && u.Host != "" {
		if u.User != nil {
			if u.Scheme == "http" || u.Scheme == "https" {
				u.User = nil
			} else {
				u.User = url.User(u.User.Username())
			}
		}
		return u.String()
	}
	// scp-like user@host:path, or something url.Parse refuses: drop a password in the user part.
	scheme, rest, found := strings.Cut(raw, "://")
	if !found {
		scheme, rest = "", raw
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 || strings.Contains(rest[:at], "/") {
		return raw
	}
	user, _, hasPassword := strings.Cut(rest[:at], ":")
	switch {
	case found && (scheme == "http" || scheme == "https"):
		rest = rest[at+1:]
	case hasPassword:
		rest = user + rest[at:]
	}
	if found {
		return scheme + "://" + rest
	}
	return rest
}

// formatDuration writes whole seconds as "60s" rather than time.Duration's "1m0s".
func formatDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return d.String()
}
