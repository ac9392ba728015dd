package source

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-billy/v5/osfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

const remoteName = "origin"

// objectCacheSize bounds go-git's in-memory object cache per open repository.
const objectCacheSize = 16 * cache.MiByte

var (
	// branchesAndTags fetch every branch to refs/remotes/origin and every tag to refs/tags.
	branchesAndTags = []config.RefSpec{
		"+refs/heads/*:refs/remotes/origin/*",
		"+refs/tags/*:refs/tags/*",
	}
	// remoteHead records the commit of the remote's HEAD. It is only fetched when the revision
	// asks for it, since a remote whose HEAD names no branch would fail every fetch otherwise.
	remoteHead    = config.RefSpec("+HEAD:refs/remotes/origin/HEAD")
	remoteHeadRef = plumbing.NewRemoteHEADReferenceName(remoteName)
)

var (
	errNoCache    = errors.New("no cache")
	errURLChanged = errors.New("the cache was cloned from another URL")
)

// cachePaths is the layout of one key's cache.
type cachePaths struct {
	root       string // the directory swapped in as a whole
	git        string // the repository storage
	tree       string // the work tree, Checkout.Dir
	knownHosts string // known_hosts for ssh, outside root
}

func layout(root string) cachePaths {
	return cachePaths{root: root, git: filepath.Join(root, "git"), tree: filepath.Join(root, "tree")}
}

// safeName maps a key to a directory name that stays inside CacheDir: its lowercase letters,
// digits and dashes (others become "_", at most 60), then a hash of the whole key so that keys
// differing only in the replaced characters do not share a cache.
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

func newStorage(dir string) *filesystem.Storage {
	return filesystem.NewStorage(osfs.New(dir), cache.NewObjectLRU(objectCacheSize))
}

// openCache opens the cache of p. It returns errNoCache when there is none, errURLChanged when
// it was cloned from another URL, and any other error when it is broken.
func openCache(p cachePaths, repoURL string) (*git.Repository, error) {
	if _, err := os.Stat(p.git); errors.Is(err, fs.ErrNotExist) {
		return nil, errNoCache
	}
	repo, err := git.Open(newStorage(p.git), osfs.New(p.tree))
	if err != nil {
		return nil, fmt.Errorf("open the cache: %w", err)
	}
	// git.Open only notices a missing HEAD; one full of garbage shows here.
	if _, err := repo.Reference(plumbing.HEAD, false); err != nil {
		return nil, fmt.Errorf("read the cache's HEAD: %w", err)
	}
	remote, err := repo.Remote(remoteName)
	if err != nil {
		return nil, fmt.Errorf("read the cache's remote: %w", err)
	}
	if urls := remote.Config().URLs; len(urls) != 1 || urls[0] != safeURL(repoURL) {
		return nil, errURLChanged
	}
	if err := os.MkdirAll(p.tree, 0o755); err != nil {
		return nil, fmt.Errorf("create the work tree: %w", err)
	}
	return repo, nil
}

// clone fetches the repository from scratch into a temporary directory next to the cache and,
// when that succeeded, replaces the cache with it. A failed clone leaves the old cache alone.
func clone(ctx context.Context, p cachePaths, req Request, auth *transportAuth) (*git.Repository, error) {
	if err := removeTemps(p); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(p.root), 0o755); err != nil {
		return nil, fmt.Errorf("create the cache directory: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(p.root), filepath.Base(p.root)+".tmp-")
	if err != nil {
		return nil, fmt.Errorf("create a directory to clone into: %w", err)
	}
	defer func() { _ = os.RemoveAll(tmp) }() // gone already after the swap
	tp := layout(tmp)
	// Bare: with a work tree go-git would write a .git file into it and core.worktree into the
	// config. The work tree is attached when the cache is opened.
	repo, err := git.Init(newStorage(tp.git), nil)
	if err != nil {
		return nil, fmt.Errorf("initialise the cache: %w", err)
	}
	remote := &config.RemoteConfig{Name: remoteName, URLs: []string{safeURL(req.RepoURL)}, Fetch: branchesAndTags}
	if _, err := repo.CreateRemote(remote); err != nil {
		return nil, fmt.Errorf("configure the cache's remote: %w", err)
	}
	if err := fetchInto(ctx, repo, req, auth); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(tp.tree, 0o755); err != nil {
		return nil, fmt.Errorf("create the work tree: %w", err)
	}
	if err := os.RemoveAll(p.root); err != nil {
		return nil, fmt.Errorf("remove the old cache: %w", err)
	}
	if err := os.Rename(tmp, p.root); err != nil {
		return nil, fmt.Errorf("move the new clone into place: %w", err)
	}
	return openCache(p, req.RepoURL)
}

// removeTemps deletes what interrupted clones of p left behind.
func removeTemps(p cachePaths) error {
	left, err := filepath.Glob(p.root + ".tmp-*")
	if err != nil {
		return fmt.Errorf("list interrupted clones: %w", err)
	}
	for _, dir := range left {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("remove interrupted clone %s: %w", dir, err)
		}
	}
	return nil
}

// fetchInto fetches every branch and tag, pruning the ones the remote no longer has, and the
// remote HEAD when the revision needs it. Being up to date already is no error.
func fetchInto(ctx context.Context, repo *git.Repository, req Request, auth *transportAuth) error {
	specs := branchesAndTags
	if wantsRemoteHead(req.Revision) {
		specs = append(append([]config.RefSpec{}, branchesAndTags...), remoteHead)
	}
	err := repo.FetchContext(ctx, &git.FetchOptions{
		RemoteName:   remoteName,
		RemoteURL:    req.RepoURL, // the cache's config holds the URL without credentials
		RefSpecs:     specs,
		Auth:         auth.method,
		ProxyOptions: auth.proxy,
		Tags:         git.NoTags, // the tag refspec fetches them all
		Force:        true,
		Prune:        true,
	})
	switch {
	case errors.Is(err, git.NoErrAlreadyUpToDate):
		return nil
	case errors.Is(err, git.NoMatchingRefSpecError{}):
		return &revisionError{fmt.Sprintf("the remote %s has no default branch (its HEAD names no branch); set the revision to a branch",
			safeURL(req.RepoURL))}
	}
	return err
}
