package source

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	git "github.com/go-git/go-git/v5"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// DefaultTimeout bounds a Fetch when Fetcher.Timeout is zero.
const DefaultTimeout = 60 * time.Second

// Request says what to fetch.
type Request struct {
	// Key names the cache, unique per GitSync (for example "namespace/name").
	Key string
	// RepoURL is https://, http://, ssh://user@host:port/path or scp-like user@host:path.
	RepoURL string
	// Revision is "" or "HEAD" (the remote's default branch), a branch, a tag, a full commit or a
	// short commit of at least 7 hex digits. See the package documentation for the order.
	Revision string
	// Credentials authenticate the fetch; nil is anonymous.
	Credentials *Credentials
}

// Checkout is a fetched commit, checked out.
type Checkout struct {
	// Dir holds the files of the commit and nothing else (no .git). The caller only reads it,
	// until the next Fetch with the same Key.
	Dir string
	// Commit is the resolved commit, 40 hex digits.
	Commit string
	// Message is the first line of the commit's message.
	Message string
	// Author is the name of the commit's author.
	Author string
	// Time is the commit's committer time: when it landed on the branch.
	Time time.Time
}

// Fetcher fetches repositories into caches under CacheDir. Fetches of different keys may run
// concurrently; fetches of one key run one at a time.
type Fetcher struct {
	// CacheDir is the root of all caches (--git-cache-dir).
	CacheDir string
	// Timeout bounds one Fetch; DefaultTimeout when zero (--git-timeout).
	Timeout time.Duration

	locks sync.Map // key → *sync.Mutex
}

// errTimedOut is the cause of a fetch context that ran out of Fetcher.Timeout.
var errTimedOut = errors.New("fetch timed out")

// Fetch brings the cache of req.Key up to date with req.RepoURL and checks out req.Revision.
func (f *Fetcher) Fetch(ctx context.Context, req Request) (Checkout, error) {
	if err := f.validate(req); err != nil {
		return Checkout{}, err
	}
	defer f.lock(req.Key)()
	timeout := f.timeout()
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, errTimedOut)
	defer cancel()

	co, err := f.fetch(ctx, req)
	if err != nil {
		return Checkout{}, describe(ctx, req, timeout, err)
	}
	return co, nil
}

// Forget deletes the cache of key and its known_hosts file (the GitSync is gone).
func (f *Fetcher) Forget(key string) error {
	if key == "" {
		return errors.New("forget git cache: empty key")
	}
	defer f.lock(key)()
	p, err := f.paths(key)
	if err != nil {
		return fmt.Errorf("forget git cache of %s: %w", key, err)
	}
	if err := removeTemps(p); err != nil {
		return fmt.Errorf("forget git cache of %s: %w", key, err)
	}
	for _, path := range []string{p.root, p.knownHosts} {
		if err := os.RemoveAll(path); err != nil {
			return fmt.Errorf("forget git cache of %s: %w", key, err)
		}
	}
	return nil
}

// fetch updates (or clones) the cache and checks the revision out. A checkout that fails in an
// incrementally fetched cache for a reason other than the revision itself means the cache is
// broken: it is cloned again once.
func (f *Fetcher) fetch(ctx context.Context, req Request) (Checkout, error) {
	p, err := f.paths(req.Key)
	if err != nil {
		return Checkout{}, err
	}
	auth, err := newTransportAuth(ctx, req, p)
	if err != nil {
		return Checkout{}, err
	}
	defer auth.release()

	repo, reused, err := update(ctx, p, req, auth)
	if err != nil {
		return Checkout{}, auth.explain(err)
	}
	co, err := checkout(repo, p, req)
	if err == nil || !reused || !isCacheError(ctx, err) {
		return co, err
	}
	log.FromContext(ctx).Info("Git cache is broken; cloning again", "key", req.Key,
		"url", safeURL(req.RepoURL), "reason", redact(err.Error(), req))
	if repo, err = clone(ctx, p, req, auth); err != nil {
		return Checkout{}, auth.explain(err)
	}
	return checkout(repo, p, req)
}

// update opens the cache and fetches into it, or clones when there is no usable cache. reused
// says whether an existing cache was fetched into.
func update(ctx context.Context, p cachePaths, req Request, auth *transportAuth) (*git.Repository, bool, error) {
	logger := log.FromContext(ctx).WithValues("key", req.Key, "url", safeURL(req.RepoURL))
	repo, err := openCache(p, req.RepoURL)
	switch {
	case errors.Is(err, errNoCache):
		logger.V(1).Info("Cloning repository")
		repo, err = clone(ctx, p, req, auth)
		return repo, false, err
	case errors.Is(err, errURLChanged):
		logger.Info("Repository URL changed; cloning again")
		repo, err = clone(ctx, p, req, auth)
		return repo, false, err
	case err != nil:
		logger.Info("Git cache cannot be opened; cloning again", "reason", err.Error())
		repo, err = clone(ctx, p, req, auth)
		return repo, false, err
	}
	err = fetchInto(ctx, repo, req, auth)
	if err == nil {
		return repo, true, nil
	}
	if !isCacheError(ctx, auth.explain(err)) {
		return nil, false, err
	}
	logger.Info("Fetching into the Git cache failed; cloning again", "reason", redact(err.Error(), req))
	repo, err = clone(ctx, p, req, auth)
	return repo, false, err
}

func (f *Fetcher) validate(req Request) error {
	switch {
	case f.CacheDir == "":
		return errors.New("fetch git repository: no cache directory configured")
	case req.Key == "":
		return fmt.Errorf("fetch %s: empty cache key", safeURL(req.RepoURL))
	case req.RepoURL == "":
		return errors.New("fetch git repository: empty repository URL")
	}
	return nil
}

func (f *Fetcher) timeout() time.Duration {
	if f.Timeout > 0 {
		return f.Timeout
	}
	return DefaultTimeout
}

// lock takes the mutex of key and returns its unlock.
func (f *Fetcher) lock(key string) func() {
	v, _ := f.locks.LoadOrStore(key, &sync.Mutex{})
	mu := v.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// paths is the cache layout of key.
func (f *Fetcher) paths(key string) (cachePaths, error) {
	root, err := filepath.Abs(f.CacheDir)
	if err != nil {
		return cachePaths{}, fmt.Errorf("resolve cache directory %s: %w", f.CacheDir, err)
	}
	name := safeName(key)
	p := layout(filepath.Join(root, name))
	p.knownHosts = filepath.Join(root, ".knownhosts", name)
	return p, nil
}
