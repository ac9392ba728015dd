package source

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	git "github.com/go-git/go-git/v5"
)

// checkoutPlaceholder is the empty directory that keeps the work tree's root non-empty during a checkout.
const checkoutPlaceholder = ".sluice-checkout"

// checkout resolves the request's revision and makes the work tree exactly that commit: tracked
// files are forced to the commit's content, files it does not have are removed.
func checkout(repo *git.Repository, p cachePaths, req Request) (Checkout, error) {
	hash, err := resolve(repo, req.Revision, req.RepoURL)
	if err != nil {
		return Checkout{}, err
	}
	commit, err := repo.CommitObject(hash)
	if err != nil {
		return Checkout{}, fmt.Errorf("read commit %s: %w", hash, err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return Checkout{}, fmt.Errorf("open the work tree: %w", err)
	}
	// go-git removes the directories a checkout empties, up to and including the work tree's
	// root, which it refuses to remove: `invalid path "."`. With the .git directory elsewhere the
	// root can become empty. An empty directory keeps it from that: a file would not do, as a
	// forced checkout deletes untracked files, but Git sees no empty directories.
	placeholder := filepath.Join(p.tree, checkoutPlaceholder)
	if err := os.Mkdir(placeholder, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return Checkout{}, fmt.Errorf("prepare the work tree: %w", err)
	}
	if err := wt.Checkout(&git.CheckoutOptions{Hash: hash, Force: true}); err != nil {
		return Checkout{}, fmt.Errorf("check out %s: %w", hash, err)
	}
	if err := wt.Clean(&git.CleanOptions{Dir: true}); err != nil {
		return Checkout{}, fmt.Errorf("remove untracked files after checking out %s: %w", hash, err)
	}
	if err := os.Remove(placeholder); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Checkout{}, fmt.Errorf("finish the work tree: %w", err)
	}
	msg, _, _ := strings.Cut(strings.TrimSpace(commit.Message), "\n")
	return Checkout{
		Dir:     p.tree,
		Commit:  hash.String(),
		Message: strings.TrimSpace(msg),
		Author:  commit.Author.Name,
		Time:    commit.Committer.When,
	}, nil
}
