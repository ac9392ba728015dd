package source

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-dev/sluice/test/gitserver"
)

func serve(t *testing.T, opts gitserver.Options) (*gitserver.Server, *gitserver.Repo) {
	t.Helper()
	dir := t.TempDir()
	srv, err := gitserver.Start(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	repo, err := gitserver.NewRepo(dir, "config")
	if err != nil {
		t.Fatal(err)
	}
	return srv, repo
}

func push(t *testing.T, repo *gitserver.Repo, msg string, files map[string]string, remove ...string) string {
	t.Helper()
	if err := repo.Remove(remove...); err != nil {
		t.Fatal(err)
	}
	if err := repo.WriteFiles(files); err != nil {
		t.Fatal(err)
	}
	sha, err := repo.Commit(msg)
	if err != nil {
		t.Fatal(err)
	}
	return sha
}

var basic = &Credentials{Username: "u", Password: "pa55-word"}

func TestFetchBasicAuthIncrementalAndRemovedFiles(t *testing.T) {
	srv, repo := serve(t, gitserver.Options{Username: "u", Password: "pa55-word"})
	first := push(t, repo, "first\n\nbody", map[string]string{"a.yaml": "a", "b.yaml": "b"})
	f := &Fetcher{CacheDir: t.TempDir()}
	ctx := context.Background()
	req := Request{Key: "ns/app", RepoURL: srv.URL("config"), Credentials: basic}
	c, err := f.Fetch(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if c.Commit != first || c.Message != "first" {
		t.Fatalf("checkout = %+v, want %s with the message's first line", c, first)
	}
	marker := filepath.Join(c.Dir, ".git", "sluice-test-marker")
	if err := os.WriteFile(marker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	second := push(t, repo, "second", map[string]string{"c.yaml": "c"}, "b.yaml")
	c, err = f.Fetch(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if c.Commit != second {
		t.Fatalf("second fetch got %s, want %s", c.Commit, second)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("the cache was cloned again instead of fetched: %v", err)
	}
	if _, err := os.Stat(filepath.Join(c.Dir, "b.yaml")); !os.IsNotExist(err) {
		t.Errorf("b.yaml, removed in Git, is still checked out (stat: %v)", err)
	}
	if _, err := os.Stat(filepath.Join(c.Dir, "c.yaml")); err != nil {
		t.Errorf("c.yaml is missing: %v", err)
	}

	wrong := req
	wrong.Credentials = &Credentials{Username: "u", Password: "not-the-pass"}
	wrong.Key = "ns/wrong"
	if _, err := f.Fetch(ctx, wrong); err == nil || strings.Contains(err.Error(), "not-the-pass") {
		t.Errorf("wrong password: error %v (must fail and not echo the password)", err)
	}
	anon := req
	anon.Credentials, anon.Key = nil, "ns/anon"
	if _, err := f.Fetch(ctx, anon); err == nil || !strings.Contains(err.Error(), "authentication required") {
		t.Errorf("no credentials: error %v, want authentication required", err)
	}
}

func TestFetchRevisions(t *testing.T) {
	srv, repo := serve(t, gitserver.Options{BearerToken: "tok-123456"})
	first := push(t, repo, "first", map[string]string{"a.yaml": "1"})
	if err := repo.Tag("v1", "release 1"); err != nil {
		t.Fatal(err)
	}
	if err := repo.Tag("light", ""); err != nil {
		t.Fatal(err)
	}
	second := push(t, repo, "second", map[string]string{"a.yaml": "2"})
	if err := repo.Branch("feature"); err != nil {
		t.Fatal(err)
	}
	feature := push(t, repo, "on feature", map[string]string{"a.yaml": "3"})
	if err := repo.Checkout("main"); err != nil {
		t.Fatal(err)
	}
	f := &Fetcher{CacheDir: t.TempDir()}
	for rev, want := range map[string]string{
		"": second, "HEAD": second, "main": second, "feature": feature, "v1": first, "light": first,
		first: first, first[:8]: first,
	} {
		c, err := f.Fetch(context.Background(), Request{Key: "k", RepoURL: srv.URL("config"), Revision: rev, Credentials: &Credentials{BearerToken: "tok-123456"}})
		if err != nil {
			t.Errorf("revision %q: %v", rev, err)
			continue
		}
		if c.Commit != want {
			t.Errorf("revision %q resolved to %s, want %s", rev, c.Commit, want)
		}
	}
	_, err := f.Fetch(context.Background(), Request{Key: "k", RepoURL: srv.URL("config"), Revision: "nope", Credentials: &Credentials{BearerToken: "tok-123456"}})
	if err == nil || !strings.Contains(err.Error(), `revision "nope" not found`) {
		t.Errorf("unknown revision: %v", err)
	}
}

func TestFetchCorruptCacheAndServerDown(t *testing.T) {
	srv, repo := serve(t, gitserver.Options{})
	first := push(t, repo, "first", map[string]string{"a.yaml": "1"})
	f := &Fetcher{CacheDir: t.TempDir()}
	req := Request{Key: "k", RepoURL: srv.URL("config")}
	c, err := f.Fetch(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.Dir, ".git", "HEAD"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(c.Dir, ".git", "objects")); err != nil {
		t.Fatal(err)
	}
	if c, err = f.Fetch(context.Background(), req); err != nil || c.Commit != first {
		t.Fatalf("after corrupting the cache: %+v, %v", c, err)
	}
	srv.Stop()
	if _, err := f.Fetch(context.Background(), req); err == nil {
		t.Fatal("a fetch from a stopped server succeeded")
	}
	if _, err := os.Stat(filepath.Join(c.Dir, "a.yaml")); err != nil {
		t.Errorf("a failed fetch threw the cache away: %v", err)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	second := push(t, repo, "second", map[string]string{"a.yaml": "2"})
	if c, err = f.Fetch(context.Background(), req); err != nil || c.Commit != second {
		t.Fatalf("after the server came back: %+v, %v", c, err)
	}
}

func TestFetchSSHWithoutKnownHostsIsRefused(t *testing.T) {
	f := &Fetcher{CacheDir: t.TempDir()}
	_, err := f.Fetch(context.Background(), Request{Key: "k", RepoURL: "ssh://git@127.0.0.1:1/config.git", Credentials: &Credentials{SSHPrivateKey: []byte("key")}})
	if err == nil || !strings.Contains(err.Error(), "knownHosts") {
		t.Errorf("ssh without knownHosts: %v", err)
	}
	if s := basic.String(); strings.Contains(s, "pa55") {
		t.Errorf("Credentials.String shows the password: %s", s)
	}
}
