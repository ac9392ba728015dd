package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Credentials authenticate a fetch. String and GoString never show their values.
type Credentials struct {
	// Username and Password are https basic auth; a password alone goes with user "git".
	Username, Password string
	// BearerToken is sent as "Authorization: Bearer <token>" over https; it wins over basic auth.
	BearerToken string
	// SSHPrivateKey is an unencrypted PEM private key (OpenSSH, PKCS#1, PKCS#8 or EC format).
	SSHPrivateKey []byte
	// KnownHosts are known_hosts lines; required for ssh. A host on a port other than 22 is
	// written "[host]:port".
	KnownHosts []byte
}

// String says which credentials are set, never their values:
// "credentials{username set, password set}".
func (c *Credentials) String() string {
	if c == nil {
		return "credentials{none}"
	}
	var set []string
	for _, f := range []struct {
		name string
		ok   bool
	}{
		{"username", c.Username != ""},
		{"password", c.Password != ""},
		{"bearerToken", c.BearerToken != ""},
		{"sshPrivateKey", len(c.SSHPrivateKey) > 0},
		{"knownHosts", len(c.KnownHosts) > 0},
	} {
		if f.ok {
			set = append(set, f.name+" set")
		}
	}
	if len(set) == 0 {
		return "credentials{none}"
	}
	return "credentials{" + strings.Join(set, ", ") + "}"
}

// GoString is String, so %#v does not print secrets either.
func (c *Credentials) GoString() string { return c.String() }

// Format makes every verb (%v, %+v, %s, %q, %#v) print String, also for a Credentials value
// rather than a pointer.
func (c Credentials) Format(f fmt.State, verb rune) {
	s := c.String()
	if verb == 'q' {
		s = strconv.Quote(s)
	}
	_, _ = f.Write([]byte(s))
}

// transportAuth is how one fetch authenticates and connects.
type transportAuth struct {
	method   transport.AuthMethod
	proxy    transport.ProxyOptions // ssh: the dialer bound to the fetch's context
	hostKeys *hostKeyCheck          // ssh: what the host key check found
	release  func()
}

// newTransportAuth checks the URL's scheme and builds the auth for it: ssh keys with a host key
// check against the secret's known hosts, a bearer token or basic auth for https.
func newTransportAuth(ctx context.Context, req Request, p cachePaths) (*transportAuth, error) {
	ep, err := transport.NewEndpoint(req.RepoURL)
	if err != nil {
		return nil, fmt.Errorf("parse the repository URL: %w", err)
	}
	switch ep.Protocol {
	case "ssh":
		return sshAuth(ctx, ep, req.Credentials, p)
	case "http", "https":
		return httpAuth(req.Credentials), nil
	}
	return nil, fmt.Errorf("unsupported repository URL scheme %q; use https, http or ssh", ep.Protocol)
}

func httpAuth(c *Credentials) *transportAuth {
	a := &transportAuth{release: func() {}}
	switch {
	case c == nil:
	case c.BearerToken != "":
		a.method = &githttp.TokenAuth{Token: c.BearerToken}
	case c.Username != "" || c.Password != "":
		user := c.Username
		if user == "" {
			user = "git"
		}
		a.method = &githttp.BasicAuth{Username: user, Password: c.Password}
	}
	return a
}

func sshAuth(ctx context.Context, ep *transport.Endpoint, c *Credentials, p cachePaths) (*transportAuth, error) {
	if c == nil || len(bytes.TrimSpace(c.KnownHosts)) == 0 {
		return nil, errors.New("ssh: no knownHosts in the secret; refusing to connect without checking the host key")
	}
	if len(c.SSHPrivateKey) == 0 {
		return nil, errors.New("ssh: no sshPrivateKey in the secret")
	}
	user := ep.User
	if user == "" {
		user = "git"
	}
	keys, err := gitssh.NewPublicKeys(user, c.SSHPrivateKey, "")
	if err != nil {
		var missing *ssh.PassphraseMissingError
		if errors.As(err, &missing) {
			return nil, errors.New("ssh: sshPrivateKey is protected by a passphrase, which is not supported")
		}
		return nil, fmt.Errorf("ssh: read sshPrivateKey: %w", err)
	}
	if err := writePrivate(p.knownHosts, c.KnownHosts); err != nil {
		return nil, fmt.Errorf("ssh: write knownHosts: %w", err)
	}
	db, err := gitssh.NewKnownHostsDb(p.knownHosts)
	if err != nil {
		return nil, fmt.Errorf("ssh: read knownHosts: %w", err)
	}
	port := ep.Port
	if port <= 0 {
		port = gitssh.DefaultPort
	}
	hostPort := net.JoinHostPort(ep.Host, strconv.Itoa(port))
	check := &hostKeyCheck{callback: db.HostKeyCallback()}
	keys.HostKeyCallback = check.verify
	// With a callback of its own go-git leaves the algorithms to the caller: offer the ones of
	// the known keys, or a server with several host keys may present one not in the list.
	keys.HostKeyAlgorithms = db.HostKeyAlgorithms(hostPort)
	proxy, release := bindDialer(ctx)
	return &transportAuth{method: keys, proxy: proxy, hostKeys: check, release: release}, nil
}

// explain replaces the error of a failed fetch by the host key check's finding, when there was
// one: go-git and x/crypto bury it under handshake wrappers.
func (a *transportAuth) explain(err error) error {
	if err == nil || a.hostKeys == nil {
		return err
	}
	if failure := a.hostKeys.failed(); failure != nil {
		return failure
	}
	return err
}

// hostKeyCheck checks host keys against known_hosts and remembers a rejection.
type hostKeyCheck struct {
	callback ssh.HostKeyCallback

	mu      sync.Mutex
	failure error
}

var errHostKey = errors.New("host key rejected")

func (h *hostKeyCheck) verify(hostname string, remote net.Addr, key ssh.PublicKey) error {
	err := h.callback(hostname, remote, key)
	if err == nil {
		return nil
	}
	presented := key.Type() + " " + ssh.FingerprintSHA256(key)
	var keyErr *knownhosts.KeyError
	var revoked *knownhosts.RevokedError
	switch {
	case errors.As(err, &revoked):
		err = fmt.Errorf("ssh: %w: the host key of %s (%s) is revoked in knownHosts", errHostKey, hostname, presented)
	case errors.As(err, &keyErr) && len(keyErr.Want) > 0:
		err = fmt.Errorf("ssh: %w: the host key of %s (%s) did not match known hosts in the secret", errHostKey, hostname, presented)
	case errors.As(err, &keyErr):
		err = fmt.Errorf("ssh: %w: %s is not in the secret's knownHosts (write it as %q; its key is %s)",
			errHostKey, hostname, knownhosts.Normalize(hostname), presented)
	default:
		err = fmt.Errorf("ssh: %w: check the host key of %s: %w", errHostKey, hostname, err)
	}
	h.mu.Lock()
	h.failure = err
	h.mu.Unlock()
	return err
}

func (h *hostKeyCheck) failed() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.failure
}

// writePrivate writes data to path readable by the owner only, replacing what was there.
func writePrivate(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
