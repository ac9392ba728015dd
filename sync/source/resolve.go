package source

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// minShortHash is the fewest hex digits a short commit may have.
const minShortHash = 7

// revisionError is a revision that does not name exactly one commit. It is the request's fault,
// not the cache's, and its message is the whole error.
type revisionError struct{ msg string }

func (e *revisionError) Error() string { return e.msg }

func wantsRemoteHead(rev string) bool {
	rev = strings.TrimSpace(rev)
	return rev == "" || rev == "HEAD"
}

// resolve finds the commit a revision names among the fetched refs; see the package
// documentation for the order.
func resolve(repo *git.Repository, rev, repoURL string) (plumbing.Hash, error) {
	rev = strings.TrimSpace(rev)
	notFound := &revisionError{fmt.Sprintf("revision %q not found in %s", rev, safeURL(repoURL))}
	switch {
	case wantsRemoteHead(rev):
		return peelRef(repo, remoteHeadRef, "HEAD", notFound)
	case strings.HasPrefix(rev, "refs/heads/"):
		return peelRef(repo, plumbing.NewRemoteReferenceName(remoteName, strings.TrimPrefix(rev, "refs/heads/")), rev, notFound)
	case strings.HasPrefix(rev, "refs/tags/"):
		return peelRef(repo, plumbing.ReferenceName(rev), rev, notFound)
	case len(rev) == 2*len(plumbing.ZeroHash) && isHex(rev):
		h := plumbing.NewHash(strings.ToLower(rev))
		if _, err := repo.CommitObject(h); err != nil {
			if errors.Is(err, plumbing.ErrObjectNotFound) {
				return plumbing.ZeroHash, notFound
			}
			return plumbing.ZeroHash, fmt.Errorf("read commit %s: %w", h, err)
		}
		return h, nil
	}
	for _, name := range []plumbing.ReferenceName{
		plumbing.NewRemoteReferenceName(remoteName, rev),
		plumbing.NewTagReferenceName(rev),
	} {
		h, err := peelRef(repo, name, rev, notFound)
		if err != notFound {
			return h, err
		}
	}
	if len(rev) >= minShortHash && isHex(rev) {
		return resolveShort(repo, strings.ToLower(rev), notFound)
	}
	return plumbing.ZeroHash, notFound
}

// peelRef returns the commit a ref points at, through annotated tags; notFound when the ref does
// not exist.
func peelRef(repo *git.Repository, name plumbing.ReferenceName, rev string, notFound error) (plumbing.Hash, error) {
	ref, err := repo.Reference(name, true)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return plumbing.ZeroHash, notFound
	}
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("read ref %s: %w", name, err)
	}
	h := ref.Hash()
	for range 10 { // tags of tags are legal; a chain this long is not sane
		obj, err := repo.Storer.EncodedObject(plumbing.AnyObject, h)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("read object %s of %s: %w", h, name, err)
		}
		switch obj.Type() {
		case plumbing.CommitObject:
			return h, nil
		case plumbing.TagObject:
			tag, err := object.DecodeTag(repo.Storer, obj)
			if err != nil {
				return plumbing.ZeroHash, fmt.Errorf("read tag %s of %s: %w", h, name, err)
			}
			h = tag.Target
		default:
			return plumbing.ZeroHash, &revisionError{fmt.Sprintf("revision %q points at a %s, not a commit", rev, obj.Type())}
		}
	}
	return plumbing.ZeroHash, &revisionError{fmt.Sprintf("revision %q is a chain of more than 10 tags", rev)}
}

// prefixLookup is go-git's filesystem object storage, which can list hashes by prefix.
type prefixLookup interface {
	HashesWithPrefix(prefix []byte) ([]plumbing.Hash, error)
}

// resolveShort finds the one commit whose hash starts with prefix (lowercase hex). go-git's own
// ResolveRevision takes the first match and never reports ambiguity, so this looks itself.
func resolveShort(repo *git.Repository, prefix string, notFound error) (plumbing.Hash, error) {
	lookup, ok := repo.Storer.(prefixLookup)
	if !ok {
		return plumbing.ZeroHash, errors.New("resolve short commit: the cache's storage cannot look up hash prefixes")
	}
	whole, _ := hex.DecodeString(prefix[:len(prefix)&^1]) // hex checked by the caller
	candidates, err := lookup.HashesWithPrefix(whole)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("look up commits starting with %s: %w", prefix, err)
	}
	var commits []plumbing.Hash
	for _, h := range candidates {
		if !strings.HasPrefix(h.String(), prefix) {
			continue
		}
		if _, err := repo.CommitObject(h); err == nil {
			commits = append(commits, h)
		}
	}
	switch len(commits) {
	case 0:
		return plumbing.ZeroHash, notFound
	case 1:
		return commits[0], nil
	}
	return plumbing.ZeroHash, &revisionError{fmt.Sprintf("short commit %q is ambiguous: %d commits start with it; use more digits",
		prefix, len(commits))}
}

func isHex(s string) bool {
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F') {
			return false
		}
	}
	return s != ""
}
