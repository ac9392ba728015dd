package source

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"

	"github.com/sluice-dev/sluice/test/gitserver"
)

// logs records the messages a fetch logged.
type logs struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logs) contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.msgs {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

// testCtx is a context whose logger writes to the test log and records every line.
func testCtx(t *testing.T) (context.Context, *logs) {
	t.Helper()
	l := &logs{}
	logger := funcr.New(func(prefix, args string) {
		l.mu.Lock()
		l.msgs = append(l.msgs, args)
		l.mu.Unlock()
		t.Log(prefix, args)
	}, funcr.Options{Verbosity: 1})
	return logr.NewContext(context.Background(), logger), l
}

// httpRepo starts a Git server with opts and a repository "config" with one commit of files.
func httpRepo(t *testing.T, opts gitserver.Options, files map[string]string) (*gitserver.Server, *gitserver.Repo, string) {
	t.Helper()
	dir := t.TempDir()
	srv, err := gitserver.Start(dir, opts)
	if err != nil {
		t.Fatalf("start git server: %v", err)
	}
	t.Cleanup(srv.Stop)
	repo, sha := newRepo(t, dir, "config", files)
	return srv, repo, sha
}

// newRepo creates repository name under dir with one commit of files.
func newRepo(t *testing.T, dir, name string, files map[string]string) (*gitserver.Repo, string) {
	t.Helper()
	repo, err := gitserver.NewRepo(dir, name)
	if err != nil {
		t.Fatalf("create repo: %v", err)
	}
	return repo, commit(t, repo, "initial", files)
}

// commit writes files, removes paths and commits.
func commit(t *testing.T, repo *gitserver.Repo, msg string, files map[string]string, remove ...string) string {
	t.Helper()
	if len(remove) > 0 {
		if err := repo.Remove(remove...); err != nil {
			t.Fatalf("remove %v: %v", remove, err)
		}
	}
	if err := repo.WriteFiles(files); err != nil {
		t.Fatalf("write files: %v", err)
	}
	sha, err := repo.Commit(msg)
	if err != nil {
		t.Fatalf("commit %q: %v", msg, err)
	}
	return sha
}

func newFetcher(t *testing.T) *Fetcher {
	t.Helper()
	return &Fetcher{CacheDir: t.TempDir()}
}

// mustFetch fetches and fails the test on an error.
func mustFetch(t *testing.T, ctx context.Context, f *Fetcher, req Request) Checkout {
	t.Helper()
	co, err := f.Fetch(ctx, req)
	if err != nil {
		t.Fatalf("fetch %s at %q: %v", req.RepoURL, req.Revision, err)
	}
	return co
}

// mustFail fetches, expects an error and checks that it contains every want.
func mustFail(t *testing.T, ctx context.Context, f *Fetcher, req Request, want ...string) error {
	t.Helper()
	_, err := f.Fetch(ctx, req)
	if err == nil {
		t.Fatalf("fetch %s at %q succeeded, want an error", req.RepoURL, req.Revision)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
	return err
}

// files reads every file below dir: relative path → content.
func files(t *testing.T, dir string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		got[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatalf("read %s: %v", dir, err)
	}
	return got
}

func sameFiles(t *testing.T, dir string, want map[string]string) {
	t.Helper()
	got := files(t, dir)
	for p, w := range want {
		if g, ok := got[p]; !ok || g != w {
			t.Errorf("%s: got %q (present %v), want %q", p, g, ok, w)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("unexpected file %s in the checkout", p)
		}
	}
}

// placeMarker writes a file into the cache's repository directory; it survives incremental
// fetches and disappears when the cache is cloned again.
func placeMarker(t *testing.T, f *Fetcher, key string) string {
	t.Helper()
	p, err := f.paths(key)
	if err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(p.git, "sluice-test-marker")
	if err := os.WriteFile(marker, []byte("x"), 0o644); err != nil {
		t.Fatalf("place marker: %v", err)
	}
	return marker
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
