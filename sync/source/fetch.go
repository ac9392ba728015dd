// Package source fetches a GitSync's config repository with go-git into a cache directory the
// controller owns, and resolves the target revision to a commit.
//
// Each GitSync has one cache (a repository with a work tree) under Fetcher.CacheDir. The first
// fetch initialises it; later ones fetch incrementally into it and check the commit out. A cache
// that cannot be opened, or whose objects are broken, is thrown away and fetched again from
// scratch; a network or authentication failure never throws a cache away.
package source

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// Credentials authenticate a fetch. String never shows their values.
type Credentials struct {
	Username, Password string
	BearerToken        string
	SSHPrivateKey      []byte
	KnownHosts         []byte
}

// String says which credentials are set, never their values.
func (c *Credentials) String() string {
	if c == nil {
		return "credentials{}"
	}
	var set []string
	for name, ok := range map[string]bool{"username": c.Username != "", "password": c.Password != "",
		"bearerToken": c.BearerToken != "", "sshPrivateKey": len(c.SSHPrivateKey) > 0, "knownHosts": len(c.KnownHosts) > 0} {
		if ok {
			set = append(set, name)
		}
	}
	return "credentials{" + strings.Join(set, ",") + "}"
}

// GoString is String, so %#v does not print secrets either.
func (c *Credentials) GoString() string { return c.String() }

// Request says what to fetch.
type Request struct {
	// Key names the cache, one per GitSync ("namespace/name").
	Key      string
	RepoURL  string
	Revision string
	// Credentials may be nil (anonymous).
	Credentials *Credentials
}

// Checkout is a fetched commit, checked out.
type Checkout struct {
	// Dir holds the commit's files until the next Fetch of the same Key.
	Dir     string
	Commit  string
	Message string
	Author  string
	Time    time.Time
}

// Fetcher fetches into caches under CacheDir.
type Fetcher struct {
	CacheDir string
	// Timeout bounds one fetch; 60s when zero.
	Timeout time.Duration

	locks sync.Map // key -> *sync.Mutex
}

const remoteName = "origin"

var refSpecs = []config.RefSpec{"+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"}

// Fetch brings the cache of req.Key up to date and checks out req.Revision.
func (f *Fetcher) Fetch(ctx context.Context, req Request) (Checkout, error) {
	timeout := f.Timeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	mu, _ := f.locks.LoadOrStore(req.Key, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()

	c, err := f.fetch(ctx, req)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			err = fmt.Errorf("timed out after %s: %w", timeout, err)
		}
		return Checkout{}, redact(fmt.Errorf("fetch %s: %w", safeURL(req.RepoURL), err), req.Credentials)
	}
	return c, nil
}

func (f *Fetcher) fetch(ctx context.Context, req Request) (Checkout, error) {
	auth, err := f.auth(req)
	if err != nil {
		return Checkout{}, err
	}
	dir := f.dir(req.Key)
	repo, err := f.open(ctx, dir, req.RepoURL)
	if err != nil {
		return Checkout{}, err
	}
	remote, err := repo.Remote(remoteName)
	if err != nil {
		return Checkout{}, fmt.Errorf("read the cache's remote: %w", err)
	}
	refs, err := remote.ListContext(ctx, &git.ListOptions{Auth: auth})
	if err != nil {
		return Checkout{}, fmt.Errorf("list refs: %w", err)
	}
	err = repo.FetchContext(ctx, &git.FetchOptions{RemoteName: remoteName, RefSpecs: refSpecs, Auth: auth, Force: true, Tags: git.NoTags, Prune: true})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		if isTransport(ctx, err) {
			return Checkout{}, err
		}
		log.FromContext(ctx).Info("Git cache is broken; fetching it again from scratch", "key", req.Key, "error", err.Error())
		if repo, err = f.reinit(dir, req.RepoURL); err != nil {
			return Checkout{}, err
		}
		if err := repo.FetchContext(ctx, &git.FetchOptions{RemoteName: remoteName, RefSpecs: refSpecs, Auth: auth, Force: true, Tags: git.NoTags}); err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
			return Checkout{}, err
		}
	}
	hash, err := resolve(repo, refs, req.Revision, req.RepoURL)
	if err != nil {
		return Checkout{}, err
	}
	return checkout(repo, dir, hash)
}

// open opens the cache of dir, initialising it when missing, corrupt or for another URL.
func (f *Fetcher) open(ctx context.Context, dir, repoURL string) (*git.Repository, error) {
	repo, err := git.PlainOpen(dir)
	if err == nil {
		if r, rerr := repo.Remote(remoteName); rerr == nil && len(r.Config().URLs) == 1 && r.Config().URLs[0] == repoURL {
			if _, herr := repo.Storer.Config(); herr == nil {
				return repo, nil
			}
		}
		log.FromContext(ctx).Info("Git cache is for another URL or unreadable; starting it again", "dir", dir)
	} else if !errors.Is(err, git.ErrRepositoryNotExists) {
		log.FromContext(ctx).Info("Git cache cannot be opened; starting it again", "dir", dir, "error", err.Error())
	}
	return f.reinit(dir, repoURL)
}

func (f *Fetcher) reinit(dir, repoURL string) (*git.Repository, error) {
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("remove the cache %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create the cache %s: %w", dir, err)
	}
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		return nil, fmt.Errorf("initialise the cache %s: %w", dir, err)
	}
	if _, err := repo.CreateRemote(&config.RemoteConfig{Name: remoteName, URLs: []string{repoURL}, Fetch: refSpecs}); err != nil {
		return nil, fmt.Errorf("configure the cache's remote: %w", err)
	}
	return repo, nil
}

// Forget deletes the cache of a key.
func (f *Fetcher) Forget(key string) error {
	for _, d := range []string{f.dir(key), f.knownHostsPath(key)} {
		if err := os.RemoveAll(d); err != nil {
			return fmt.Errorf("remove the Git cache of %s: %w", key, err)
		}
	}
	return nil
}

// dir maps a key to a directory name that cannot escape CacheDir.
func (f *Fetcher) dir(key string) string { return filepath.Join(f.CacheDir, safeName(key)) }

func (f *Fetcher) knownHostsPath(key string) string {
	return filepath.Join(f.CacheDir, ".knownhosts", safeName(key))
}

func safeName(key string) string {
	sum := sha256.Sum256([]byte(key))
	clean := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '_'
	}, strings.ToLower(key))
	if len(clean) > 60 {
		clean = clean[:60]
	}
	return clean + "-" + hex.EncodeToString(sum[:6])
}

// isTransport reports whether a fetch error came from the network, the server or the credentials
// rather than from the cache.
func isTransport(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return true
	}
	for _, e := range []error{transport.ErrAuthenticationRequired, transport.ErrAuthorizationFailed,
		transport.ErrRepositoryNotFound, transport.ErrEmptyRemoteRepository, transport.ErrInvalidAuthMethod} {
		if errors.Is(err, e) {
			return true
		}
	}
	msg := err.Error()
	for _, s := range []string{"connection refused", "no such host", "timeout", "EOF", "unexpected client error", "handshake", "ssh:", "knownhosts", "status code"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// safeURL drops user information from a URL for messages.
func safeURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	u.User = nil
	return u.String()
}

// redact replaces any credential value that an error echoes.
func redact(err error, c *Credentials) error {
	if c == nil {
		return err
	}
	msg := err.Error()
	changed := false
	for _, s := range []string{c.Password, c.BearerToken} {
		if len(s) >= 4 && strings.Contains(msg, s) {
			msg, changed = strings.ReplaceAll(msg, s, "<redacted>"), true
		}
	}
	if !changed {
		return err
	}
	return errors.New(msg)
}

// resolve finds the commit of a revision: HEAD (the remote's default branch), a branch, a tag, or
// a full or short commit. A branch wins over a tag of the same name, as with git.
func resolve(repo *git.Repository, refs []*plumbing.Reference, rev, repoURL string) (plumbing.Hash, error) {
	if rev == "" || rev == "HEAD" {
		for _, r := range refs {
			if r.Name() != plumbing.HEAD {
				continue
			}
			if r.Type() == plumbing.SymbolicReference {
				rev = r.Target().Short()
				break
			}
			return r.Hash(), nil
		}
		if rev == "" || rev == "HEAD" {
			return plumbing.ZeroHash, fmt.Errorf("the remote has no HEAD; set targetRevision to a branch")
		}
	}
	rev = strings.TrimPrefix(rev, "refs/heads/")
	if ref, err := repo.Reference(plumbing.NewRemoteReferenceName(remoteName, rev), true); err == nil {
		return ref.Hash(), nil
	}
	if ref, err := repo.Reference(plumbing.NewTagReferenceName(strings.TrimPrefix(rev, "refs/tags/")), true); err == nil {
		if tag, err := repo.TagObject(ref.Hash()); err == nil {
			c, err := tag.Commit()
			if err != nil {
				return plumbing.ZeroHash, fmt.Errorf("tag %q does not point at a commit: %w", rev, err)
			}
			return c.Hash, nil
		}
		return ref.Hash(), nil
	}
	if isHex(rev) && len(rev) >= 7 {
		h, err := repo.ResolveRevision(plumbing.Revision(rev))
		if err == nil {
			if _, err := repo.CommitObject(*h); err == nil {
				return *h, nil
			}
		}
	}
	return plumbing.ZeroHash, fmt.Errorf("revision %q not found in %s", rev, safeURL(repoURL))
}

func isHex(s string) bool {
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return s != ""
}

// checkout forces the work tree to a commit, removing files the commit does not have.
func checkout(repo *git.Repository, dir string, hash plumbing.Hash) (Checkout, error) {
	c, err := repo.CommitObject(hash)
	if err != nil {
		return Checkout{}, fmt.Errorf("read commit %s: %w", hash, err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return Checkout{}, fmt.Errorf("open the work tree: %w", err)
	}
	if err := wt.Checkout(&git.CheckoutOptions{Hash: hash, Force: true}); err != nil {
		return Checkout{}, fmt.Errorf("check out %s: %w", hash, err)
	}
	if err := wt.Clean(&git.CleanOptions{Dir: true}); err != nil {
		return Checkout{}, fmt.Errorf("clean the work tree: %w", err)
	}
	msg, _, _ := strings.Cut(strings.TrimSpace(c.Message), "\n")
	return Checkout{Dir: dir, Commit: hash.String(), Message: msg, Author: c.Author.Name, Time: c.Author.When}, nil
}

// auth builds the transport auth of a request. ssh always checks host keys against knownHosts.
func (f *Fetcher) auth(req Request) (transport.AuthMethod, error) {
	ep, err := transport.NewEndpoint(req.RepoURL)
	if err != nil {
		return nil, fmt.Errorf("parse the repository URL: %w", err)
	}
	c := req.Credentials
	if ep.Protocol == "ssh" {
		if c == nil || len(c.SSHPrivateKey) == 0 {
			return nil, errors.New("ssh: no sshPrivateKey in the secret")
		}
		if len(c.KnownHosts) == 0 {
			return nil, errors.New("ssh: no knownHosts in the secret; refusing to connect without checking the host key")
		}
		user := ep.User
		if user == "" {
			user = "git"
		}
		keys, err := gitssh.NewPublicKeys(user, c.SSHPrivateKey, "")
		if err != nil {
			return nil, fmt.Errorf("ssh: read sshPrivateKey: %w", err)
		}
		path := f.knownHostsPath(req.Key)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("ssh: write knownHosts: %w", err)
		}
		if err := os.WriteFile(path, c.KnownHosts, 0o600); err != nil {
			return nil, fmt.Errorf("ssh: write knownHosts: %w", err)
		}
		cb, err := gitssh.NewKnownHostsCallback(path)
		if err != nil {
			return nil, fmt.Errorf("ssh: read knownHosts: %w", err)
		}
		keys.HostKeyCallback = cb
		return keys, nil
	}
	switch {
	case c == nil:
		return nil, nil
	case c.BearerToken != "":
		return &githttp.TokenAuth{Token: c.BearerToken}, nil
	case c.Username != "" || c.Password != "":
		user := c.Username
		if user == "" {
			user = "git"
		}
		return &githttp.BasicAuth{Username: user, Password: c.Password}, nil
	}
	return nil, nil
}
