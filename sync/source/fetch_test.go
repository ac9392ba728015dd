package source

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/sluice-dev/sluice/test/gitserver"
)

func TestFetchAnonymous(t *testing.T) {
	ctx, _ := testCtx(t)
	want := map[string]string{"apps/web/deploy.yaml": "kind: Deployment\n", "README": "", "kustomization.yaml": "resources: []\n"}
	srv, _, sha := httpRepo(t, gitserver.Options{}, want)
	f := newFetcher(t)

	co := mustFetch(t, ctx, f, Request{Key: "ns/app", RepoURL: srv.URL("config")})
	if co.Commit != sha {
		t.Errorf("commit %s, want %s", co.Commit, sha)
	}
	if co.Message != "initial" || co.Author != "Gitserver Test" || co.Time.IsZero() {
		t.Errorf("checkout metadata %+v", co)
	}
	sameFiles(t, co.Dir, want) // and no .git of any kind
	if !strings.HasPrefix(co.Dir, f.CacheDir) {
		t.Errorf("checkout %s is outside the cache dir %s", co.Dir, f.CacheDir)
	}
}

func TestFetchBasicAuth(t *testing.T) {
	ctx, _ := testCtx(t)
	const password = "s3cret-Pass/word"
	srv, _, sha := httpRepo(t, gitserver.Options{Username: "sync", Password: password}, map[string]string{"f": "1"})
	f := newFetcher(t)

	co := mustFetch(t, ctx, f, Request{Key: "ok", RepoURL: srv.URL("config"),
		Credentials: &Credentials{Username: "sync", Password: password}})
	if co.Commit != sha {
		t.Errorf("commit %s, want %s", co.Commit, sha)
	}

	wrong := &Credentials{Username: "sync", Password: "wrong-Pa$$word"}
	err := mustFail(t, ctx, f, Request{Key: "wrong", RepoURL: srv.URL("config"), Credentials: wrong},
		"fetch "+srv.URL("config"), "authentication required")
	if strings.Contains(err.Error(), "wrong-Pa") {
		t.Errorf("error shows the password: %v", err)
	}
	if !errors.Is(err, transport.ErrAuthenticationRequired) {
		t.Errorf("error %v is not transport.ErrAuthenticationRequired", err)
	}
	mustFail(t, ctx, f, Request{Key: "anonymous", RepoURL: srv.URL("config")}, "authentication required")
}

// TestFetchCredentialsInURL checks that a password written into the URL never shows in an error,
// in any of the forms go-git and net/url print it.
func TestFetchCredentialsInURL(t *testing.T) {
	ctx, _ := testCtx(t)
	srv, _, _ := httpRepo(t, gitserver.Options{Username: "sync", Password: "right"}, map[string]string{"f": "1"})
	f := newFetcher(t)
	const secret = "url-Secret@/:x"
	withUser := strings.Replace(srv.URL("config"), "http://", "http://sync:"+urlEscape(secret)+"@", 1)
	err := mustFail(t, ctx, f, Request{Key: "k", RepoURL: withUser}, srv.URL("config"))
	for _, form := range []string{secret, urlEscape(secret), "url-Secret"} {
		if strings.Contains(err.Error(), form) {
			t.Errorf("error shows the password as %q: %v", form, err)
		}
	}
	good := strings.Replace(srv.URL("config"), "http://", "http://sync:right@", 1)
	mustFetch(t, ctx, f, Request{Key: "k", RepoURL: good})

	// With the server down, net/http's own error names the URL, user included.
	srv.Stop()
	for _, u := range []string{good, strings.Replace(srv.URL("config"), "http://", "http://tok-as-user@", 1)} {
		err := mustFail(t, ctx, f, Request{Key: "k", RepoURL: u}, "connection refused")
		if strings.Contains(err.Error(), "right") || strings.Contains(err.Error(), "tok-as-user") || strings.Contains(err.Error(), "sync") {
			t.Errorf("error shows user information: %v", err)
		}
	}
}

func urlEscape(s string) string {
	return strings.NewReplacer("@", "%40", "/", "%2F", ":", "%3A").Replace(s)
}

func TestFetchBearerToken(t *testing.T) {
	ctx, _ := testCtx(t)
	srv, _, sha := httpRepo(t, gitserver.Options{BearerToken: "tok-right"}, map[string]string{"f": "1"})
	f := newFetcher(t)
	co := mustFetch(t, ctx, f, Request{Key: "k", RepoURL: srv.URL("config"), Credentials: &Credentials{BearerToken: "tok-right"}})
	if co.Commit != sha {
		t.Errorf("commit %s, want %s", co.Commit, sha)
	}
	err := mustFail(t, ctx, f, Request{Key: "k2", RepoURL: srv.URL("config"), Credentials: &Credentials{BearerToken: "tok-wrong"}},
		"authentication required")
	if strings.Contains(err.Error(), "tok-wrong") {
		t.Errorf("error shows the token: %v", err)
	}
}

func TestFetchIncremental(t *testing.T) {
	ctx, logs := testCtx(t)
	srv, repo, _ := httpRepo(t, gitserver.Options{}, map[string]string{"keep.yaml": "a", "gone/old.yaml": "b"})
	f := newFetcher(t)
	req := Request{Key: "ns/app", RepoURL: srv.URL("config")}
	co := mustFetch(t, ctx, f, req)
	marker := placeMarker(t, f, req.Key)
	objects := inode(t, filepath.Join(filepath.Dir(marker), "objects"))
	stray := filepath.Join(co.Dir, "stray.yaml") // nobody should write there; if so, it goes
	if err := os.WriteFile(stray, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}

	second := commit(t, repo, "second\n\nbody", map[string]string{"keep.yaml": "a2", "new/n.yaml": "c"}, "gone")
	co = mustFetch(t, ctx, f, req)
	if co.Commit != second || co.Message != "second" {
		t.Errorf("second fetch: commit %s %q, want %s \"second\"", co.Commit, co.Message, second)
	}
	sameFiles(t, co.Dir, map[string]string{"keep.yaml": "a2", "new/n.yaml": "c"})
	if !exists(marker) || inode(t, filepath.Join(filepath.Dir(marker), "objects")) != objects {
		t.Error("the second fetch cloned again")
	}
	if logs.contains("cloning again") {
		t.Error("logged a re-clone")
	}

	before := srv.Requests()
	co = mustFetch(t, ctx, f, req)
	if n := srv.Requests() - before; co.Commit != second || n != 1 {
		t.Errorf("up-to-date fetch: commit %s, %d requests; want %s with only the ref advertisement", co.Commit, n, second)
	}
}

// TestFetchEmptiesRoot replaces every file at the root, then removes everything: go-git would
// try to remove the emptied work tree root itself.
func TestFetchEmptiesRoot(t *testing.T) {
	ctx, _ := testCtx(t)
	srv, repo, _ := httpRepo(t, gitserver.Options{}, map[string]string{"only.yaml": "1"})
	f := newFetcher(t)
	req := Request{Key: "k", RepoURL: srv.URL("config")}
	mustFetch(t, ctx, f, req)
	commit(t, repo, "move down", map[string]string{"sub/moved.yaml": "1"}, "only.yaml")
	sameFiles(t, mustFetch(t, ctx, f, req).Dir, map[string]string{"sub/moved.yaml": "1"})
	commit(t, repo, "remove all", nil, "sub")
	co := mustFetch(t, ctx, f, req)
	sameFiles(t, co.Dir, map[string]string{})
	if entries, err := os.ReadDir(co.Dir); err != nil || len(entries) != 0 {
		t.Errorf("work tree of an empty commit holds %v (%v)", entries, err)
	}
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// TestFetchRepairsCorruptCache breaks the cache in ways a disk or a person could and checks that
// the next fetch still delivers the new commit, and the one after it fetches incrementally. A
// cache that cannot be opened or read is cloned again; lost objects are fetched again in place
// (go-git asks for every object it lacks), and a garbage HEAD is simply overwritten, since the
// cache's HEAD is only ever the checked-out commit.
func TestFetchRepairsCorruptCache(t *testing.T) {
	for _, tc := range []struct {
		name    string
		corrupt func(git string) error
		reclone bool
	}{
		{"HEAD deleted", func(git string) error { return os.Remove(filepath.Join(git, "HEAD")) }, true},
		{"config garbage", func(git string) error { return os.WriteFile(filepath.Join(git, "config"), []byte("[[[junk"), 0o644) }, true},
		{"packfiles garbage", garblePacks, true},
		{"objects deleted", func(git string) error { return os.RemoveAll(filepath.Join(git, "objects")) }, false},
		{"HEAD garbage", func(git string) error { return os.WriteFile(filepath.Join(git, "HEAD"), []byte("\x00junk"), 0o644) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, logs := testCtx(t)
			srv, repo, first := httpRepo(t, gitserver.Options{}, map[string]string{"a.yaml": "1", "b.yaml": "2"})
			f := newFetcher(t)
			req := Request{Key: "k", RepoURL: srv.URL("config")}
			mustFetch(t, ctx, f, req)
			marker := placeMarker(t, f, req.Key)
			if err := tc.corrupt(filepath.Dir(marker)); err != nil {
				t.Fatalf("corrupt the cache: %v", err)
			}
			next := commit(t, repo, "next", map[string]string{"c.yaml": "3"}, "a.yaml")
			// The first commit's objects were in the cache before: they must be read from it.
			old := mustFetch(t, ctx, f, Request{Key: req.Key, RepoURL: req.RepoURL, Revision: first})
			if old.Commit != first {
				t.Errorf("commit %s, want %s", old.Commit, first)
			}
			sameFiles(t, old.Dir, map[string]string{"a.yaml": "1", "b.yaml": "2"})
			if recloned := !exists(marker); recloned != tc.reclone || recloned != logs.contains("cloning again") {
				t.Errorf("cloned again: %v (logged %v), want %v", recloned, logs.contains("cloning again"), tc.reclone)
			}

			marker = placeMarker(t, f, req.Key)
			co := mustFetch(t, ctx, f, req)
			if co.Commit != next || !exists(marker) {
				t.Errorf("fetch after the repair: commit %s (want %s), incremental %v", co.Commit, next, exists(marker))
			}
			sameFiles(t, co.Dir, map[string]string{"b.yaml": "2", "c.yaml": "3"})
		})
	}
}

// garblePacks overwrites every packfile after its header, as a disk error would.
func garblePacks(git string) error {
	packs, err := filepath.Glob(filepath.Join(git, "objects", "pack", "*.pack"))
	if err != nil || len(packs) == 0 {
		return fmt.Errorf("no packfiles (%v)", err)
	}
	for _, p := range packs {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		fh, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		_, err = fh.WriteAt(bytes.Repeat([]byte{0x5a}, int(fi.Size())-12-20), 12)
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func TestFetchURLChangeClonesAgain(t *testing.T) {
	ctx, logs := testCtx(t)
	srv, _, _ := httpRepo(t, gitserver.Options{}, map[string]string{"from-one": "1"})
	_, otherSHA := newRepo(t, srv.Dir(), "other", map[string]string{"from-other": "2"})
	f := newFetcher(t)
	mustFetch(t, ctx, f, Request{Key: "k", RepoURL: srv.URL("config")})
	marker := placeMarker(t, f, "k")

	co := mustFetch(t, ctx, f, Request{Key: "k", RepoURL: srv.URL("other")})
	if co.Commit != otherSHA {
		t.Errorf("commit %s, want %s", co.Commit, otherSHA)
	}
	sameFiles(t, co.Dir, map[string]string{"from-other": "2"})
	if exists(marker) || !logs.contains("URL changed") {
		t.Error("the cache was not cloned again for the new URL")
	}
}

func TestFetchServerDownKeepsCache(t *testing.T) {
	ctx, _ := testCtx(t)
	srv, repo, first := httpRepo(t, gitserver.Options{}, map[string]string{"f": "1"})
	f := newFetcher(t)
	req := Request{Key: "k", RepoURL: srv.URL("config")}
	co := mustFetch(t, ctx, f, req)
	marker := placeMarker(t, f, req.Key)

	srv.Stop()
	mustFail(t, ctx, f, req, "fetch "+srv.URL("config"), "connection refused")
	if !exists(marker) {
		t.Fatal("a network error threw the cache away")
	}
	sameFiles(t, co.Dir, map[string]string{"f": "1"})

	if err := srv.Restart(); err != nil {
		t.Fatalf("restart: %v", err)
	}
	second := commit(t, repo, "second", map[string]string{"f": "2"})
	co = mustFetch(t, ctx, f, req)
	if co.Commit != second || co.Commit == first || !exists(marker) {
		t.Errorf("after restart: commit %s (want %s), marker kept %v", co.Commit, second, exists(marker))
	}
}

func TestFetchUnknownRepository(t *testing.T) {
	ctx, _ := testCtx(t)
	srv, _, _ := httpRepo(t, gitserver.Options{}, map[string]string{"f": "1"})
	f := newFetcher(t)
	err := mustFail(t, ctx, f, Request{Key: "k", RepoURL: srv.URL("missing")}, "repository not found")
	if !errors.Is(err, transport.ErrRepositoryNotFound) {
		t.Errorf("error %v is not transport.ErrRepositoryNotFound", err)
	}
}

func TestFetchRefusesOtherSchemes(t *testing.T) {
	ctx, _ := testCtx(t)
	f := newFetcher(t)
	local := t.TempDir()
	for _, u := range []string{local, "file://" + local, "git://127.0.0.1/x.git"} {
		mustFail(t, ctx, f, Request{Key: "k", RepoURL: u}, "unsupported repository URL scheme")
	}
}

func TestCacheKeysStayInside(t *testing.T) {
	f := &Fetcher{CacheDir: t.TempDir()}
	seen := map[string]string{}
	for _, key := range []string{"ns/app", "ns_app", "../../etc", "/abs", ".", "..", "NS/App", strings.Repeat("x", 300)} {
		p, err := f.paths(key)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Dir(p.root) != f.CacheDir || filepath.Dir(p.knownHosts) != filepath.Join(f.CacheDir, ".knownhosts") {
			t.Errorf("key %q maps to %s, outside %s", key, p.root, f.CacheDir)
		}
		if other, dup := seen[p.root]; dup {
			t.Errorf("keys %q and %q share %s", key, other, p.root)
		}
		seen[p.root] = key
	}
}

func TestForget(t *testing.T) {
	ctx, _ := testCtx(t)
	srv, _, _ := httpRepo(t, gitserver.Options{}, map[string]string{"f": "1"})
	f := newFetcher(t)
	co := mustFetch(t, ctx, f, Request{Key: "k", RepoURL: srv.URL("config")})
	if err := f.Forget("k"); err != nil {
		t.Fatalf("forget: %v", err)
	}
	if exists(co.Dir) || exists(filepath.Dir(co.Dir)) {
		t.Errorf("cache %s still there", filepath.Dir(co.Dir))
	}
	if err := f.Forget("never-fetched"); err != nil {
		t.Errorf("forget an unknown key: %v", err)
	}
}

func TestFetchConcurrentKeys(t *testing.T) {
	ctx, _ := testCtx(t)
	srv, _, sha := httpRepo(t, gitserver.Options{}, map[string]string{"f": "1"})
	f := newFetcher(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			co, err := f.Fetch(ctx, Request{Key: fmt.Sprintf("ns/app-%d", i%4), RepoURL: srv.URL("config")})
			if err == nil && co.Commit != sha {
				err = fmt.Errorf("key %d: commit %s, want %s", i, co.Commit, sha)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestFetchManyFiles fetches a repository of 1000 small files, then a commit changing a few.
func TestFetchManyFiles(t *testing.T) {
	ctx, _ := testCtx(t)
	many := map[string]string{}
	for i := range 1000 {
		many[fmt.Sprintf("apps/app-%02d/cm-%03d.yaml", i%50, i)] = fmt.Sprintf("kind: ConfigMap\nmetadata: {name: cm-%d}\n", i)
	}
	srv, repo, _ := httpRepo(t, gitserver.Options{}, many)
	f := newFetcher(t)
	req := Request{Key: "big", RepoURL: srv.URL("config")}
	start := time.Now()
	co := mustFetch(t, ctx, f, req)
	t.Logf("clone and checkout of 1000 files: %s", time.Since(start))
	if n := len(files(t, co.Dir)); n != 1000 {
		t.Fatalf("checkout has %d files, want 1000", n)
	}
	commit(t, repo, "change a few", map[string]string{"apps/app-00/cm-000.yaml": "changed"}, "apps/app-01")
	start = time.Now()
	co = mustFetch(t, ctx, f, req)
	t.Logf("incremental fetch and checkout: %s", time.Since(start))
	got := files(t, co.Dir)
	if len(got) != 980 || got["apps/app-00/cm-000.yaml"] != "changed" {
		t.Errorf("after the change: %d files, cm-000 %q", len(got), got["apps/app-00/cm-000.yaml"])
	}
}

func TestCredentialsNeverPrint(t *testing.T) {
	c := &Credentials{Username: "user-x", Password: "pw-x", BearerToken: "tok-x", SSHPrivateKey: []byte("key-x"), KnownHosts: []byte("hosts-x")}
	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		for _, v := range []any{c, *c, Request{Credentials: c}} {
			out := fmt.Sprintf(format, v)
			for _, secret := range []string{"pw-x", "tok-x", "key-x", "hosts-x", "user-x"} {
				if strings.Contains(out, secret) {
					t.Errorf("%s of %T shows %s: %s", format, v, secret, out)
				}
			}
		}
	}
	if got := c.String(); got != "credentials{username set, password set, bearerToken set, sshPrivateKey set, knownHosts set}" {
		t.Errorf("String() = %s", got)
	}
}

func TestSafeURL(t *testing.T) {
	for raw, want := range map[string]string{
		"https://user:pw@example.com/r.git":   "https://example.com/r.git",
		"https://token@example.com/r.git":     "https://example.com/r.git",
		"ssh://git:pw@example.com:2222/r.git": "ssh://git@example.com:2222/r.git",
		"ssh://git@example.com/r.git":         "ssh://git@example.com/r.git",
		"git@example.com:org/r.git":           "git@example.com:org/r.git",
		"git:pw@example.com:org/r.git":        "git@example.com:org/r.git",
		"http://us er:p w@exa mple.com/r":     "http://exa mple.com/r",
	} {
		if got := safeURL(raw); got != want {
			t.Errorf("safeURL(%q) = %q, want %q", raw, got, want)
		}
	}
}
