package source

import (
	"fmt"
	"strings"
	"testing"

	"github.com/go-git/go-billy/v5/osfs"
	git "github.com/go-git/go-git/v5"

	"github.com/sluice-dev/sluice/test/gitserver"
)

// history is a repository with a main branch, a dev branch, a lightweight and an annotated tag,
// a branch and a tag both called "same", and the commits they point at.
type history struct {
	srv                                 *gitserver.Server
	repo                                *gitserver.Repo
	first, tagged, annotated, main, dev string
	sameBranch, sameTag                 string
}

func newHistory(t *testing.T) history {
	t.Helper()
	var h history
	h.srv, h.repo, h.first = httpRepo(t, gitserver.Options{}, map[string]string{"v": "1"})
	h.tagged = commit(t, h.repo, "tagged", map[string]string{"v": "2"})
	must(t, h.repo.Tag("v2"))
	h.annotated = commit(t, h.repo, "annotated", map[string]string{"v": "3"})
	must(t, h.repo.TagAnnotated("v3", "release 3"))
	h.sameTag = h.annotated
	must(t, h.repo.Tag("same"))
	must(t, h.repo.Branch("dev"))
	must(t, h.repo.Checkout("dev"))
	h.dev = commit(t, h.repo, "on dev", map[string]string{"v": "dev"})
	h.sameBranch = h.dev
	must(t, h.repo.Branch("same"))
	must(t, h.repo.Checkout("main"))
	h.main = commit(t, h.repo, "on main", map[string]string{"v": "main"})
	return h
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestRevisions(t *testing.T) {
	ctx, _ := testCtx(t)
	h := newHistory(t)
	f := newFetcher(t)
	for _, tc := range []struct{ rev, want string }{
		{"", h.main},
		{"HEAD", h.main},
		{"main", h.main},
		{"dev", h.dev},
		{"refs/heads/dev", h.dev},
		{"v2", h.tagged},
		{"v3", h.annotated}, // annotated: peeled to its commit
		{"refs/tags/v3", h.annotated},
		{"same", h.sameBranch}, // a branch wins over a tag of the same name
		{"refs/tags/same", h.sameTag},
		{h.first, h.first},
		{strings.ToUpper(h.first), h.first},
		{h.tagged[:7], h.tagged},
		{h.dev[:12], h.dev},
		{"main", h.main}, // back again in the same cache
	} {
		co := mustFetch(t, ctx, f, Request{Key: "k", RepoURL: h.srv.URL("config"), Revision: tc.rev})
		if co.Commit != tc.want {
			t.Errorf("revision %q: commit %s, want %s", tc.rev, co.Commit, tc.want)
		}
	}
}

func TestRevisionNotFound(t *testing.T) {
	ctx, _ := testCtx(t)
	h := newHistory(t)
	f := newFetcher(t)
	url := h.srv.URL("config")
	for _, rev := range []string{"nope", "refs/heads/v2", "refs/tags/dev", "0123456", strings.Repeat("ab", 20), h.first[:6]} {
		err := mustFail(t, ctx, f, Request{Key: "k", RepoURL: url, Revision: rev})
		if want := fmt.Sprintf("revision %q not found in %s", rev, url); err.Error() != want {
			t.Errorf("revision %q: error %q, want %q", rev, err, want)
		}
	}
}

// TestShortCommitAmbiguous makes 17 commits, so two share a first hex digit, and resolves that
// digit (below the 7-digit minimum Fetch enforces, to make a collision certain).
func TestShortCommitAmbiguous(t *testing.T) {
	ctx, _ := testCtx(t)
	srv, repo, first := httpRepo(t, gitserver.Options{}, map[string]string{"n": "0"})
	byDigit := map[byte][]string{first[0]: {first}}
	for i := 1; i < 17; i++ {
		sha := commit(t, repo, fmt.Sprintf("c%d", i), map[string]string{"n": fmt.Sprint(i)})
		byDigit[sha[0]] = append(byDigit[sha[0]], sha)
	}
	f := newFetcher(t)
	req := Request{Key: "k", RepoURL: srv.URL("config")}
	mustFetch(t, ctx, f, req)
	p, _ := f.paths(req.Key)
	r, err := git.Open(newStorage(p.git), osfs.New(p.tree))
	if err != nil {
		t.Fatal(err)
	}
	for digit, shas := range byDigit {
		_, err := resolveShort(r, string(digit), &revisionError{"not found"})
		switch {
		case len(shas) > 1 && (err == nil || !strings.Contains(err.Error(), "ambiguous")):
			t.Errorf("prefix %c of %d commits: error %v, want ambiguous", digit, len(shas), err)
		case len(shas) == 1 && err != nil:
			t.Errorf("prefix %c of one commit: %v", digit, err)
		}
	}
}

func TestRevisionFollowsRemote(t *testing.T) {
	ctx, _ := testCtx(t)
	h := newHistory(t)
	f := newFetcher(t)
	url := h.srv.URL("config")

	must(t, h.repo.SetDefaultBranch("dev"))
	if co := mustFetch(t, ctx, f, Request{Key: "k", RepoURL: url}); co.Commit != h.dev {
		t.Errorf("HEAD after the default branch moved: %s, want dev %s", co.Commit, h.dev)
	}

	must(t, h.repo.Tag("v2")) // moved to main's head
	if co := mustFetch(t, ctx, f, Request{Key: "k", RepoURL: url, Revision: "v2"}); co.Commit != h.main {
		t.Errorf("moved tag: %s, want %s", co.Commit, h.main)
	}

	must(t, h.repo.DeleteBranch("same"))
	if co := mustFetch(t, ctx, f, Request{Key: "k", RepoURL: url, Revision: "same"}); co.Commit != h.sameTag {
		t.Errorf("branch deleted: %s, want the tag's %s", co.Commit, h.sameTag)
	}

	must(t, h.repo.SetDefaultBranch("missing"))
	mustFail(t, ctx, f, Request{Key: "k", RepoURL: url}, "has no default branch")
	if co := mustFetch(t, ctx, f, Request{Key: "k", RepoURL: url, Revision: "main"}); co.Commit != h.main {
		t.Errorf("branch while HEAD is dangling: %s, want %s", co.Commit, h.main)
	}
}

func TestIsHex(t *testing.T) {
	for s, want := range map[string]bool{"abc123": true, "ABCDEF": true, "": false, "xyz": false, "12 4": false} {
		if isHex(s) != want {
			t.Errorf("isHex(%q) = %v", s, !want)
		}
	}
}
