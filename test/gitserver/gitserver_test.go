package gitserver

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// newRepo makes a repository with one commit holding files.
func newRepo(t *testing.T, dir string, files map[string]string) (*Repo, string) {
	t.Helper()
	repo, err := NewRepo(dir, "config")
	if err != nil {
		t.Fatalf("create repo: %v", err)
	}
	if err := repo.WriteFiles(files); err != nil {
		t.Fatalf("write files: %v", err)
	}
	sha, err := repo.Commit("first")
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	return repo, sha
}

// cliGit runs the real git client with a clean configuration and extra environment.
func cliGit(t *testing.T, extra []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Env = gitEnv(t.TempDir(), extra...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return string(b)
}

func TestHTTPCloneAnonymous(t *testing.T) {
	dir := t.TempDir()
	_, sha := newRepo(t, dir, map[string]string{"a/b.yaml": "kind: ConfigMap\n", "empty": ""})
	srv, err := Start(dir, Options{})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(srv.Stop)

	dst := filepath.Join(t.TempDir(), "clone")
	if out, err := cliGit(t, nil, "clone", "--quiet", srv.URL("config"), dst); err != nil {
		t.Fatalf("clone: %v\n%s", err, out)
	}
	if got := readFile(t, filepath.Join(dst, "a/b.yaml")); got != "kind: ConfigMap\n" {
		t.Errorf("a/b.yaml = %q", got)
	}
	if got := readFile(t, filepath.Join(dst, "empty")); got != "" {
		t.Errorf("empty = %q", got)
	}
	head, _ := cliGit(t, nil, "-C", dst, "rev-parse", "HEAD")
	if strings.TrimSpace(head) != sha {
		t.Errorf("cloned HEAD %q, want %s", head, sha)
	}
	if srv.Requests() == 0 {
		t.Error("no requests counted")
	}
}

func TestHTTPBasicAuth(t *testing.T) {
	dir := t.TempDir()
	newRepo(t, dir, map[string]string{"f": "x"})
	srv, err := Start(dir, Options{Username: "sync", Password: "s3cret"})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(srv.Stop)

	out, err := cliGit(t, nil, "clone", "--quiet", srv.URL("config"), filepath.Join(t.TempDir(), "anon"))
	if err == nil || !strings.Contains(out, "Authentication failed") && !strings.Contains(out, "401") &&
		!strings.Contains(out, "could not read Username") {
		t.Fatalf("anonymous clone: err %v, output %q; want an authentication failure", err, out)
	}
	wrong := strings.Replace(srv.URL("config"), "http://", "http://sync:nope@", 1)
	if out, err := cliGit(t, nil, "clone", "--quiet", wrong, filepath.Join(t.TempDir(), "wrong")); err == nil {
		t.Fatalf("clone with a wrong password succeeded: %s", out)
	}
	good := strings.Replace(srv.URL("config"), "http://", "http://sync:s3cret@", 1)
	if out, err := cliGit(t, nil, "clone", "--quiet", good, filepath.Join(t.TempDir(), "ok")); err != nil {
		t.Fatalf("clone with credentials: %v\n%s", err, out)
	}
}

func TestHTTPBearerToken(t *testing.T) {
	dir := t.TempDir()
	newRepo(t, dir, map[string]string{"f": "x"})
	srv, err := Start(dir, Options{BearerToken: "tok-123"})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(srv.Stop)
	for token, wantOK := range map[string]bool{"tok-123": true, "tok-999": false} {
		header := "http.extraHeader=Authorization: Bearer " + token
		out, err := cliGit(t, nil, "-c", header, "clone", "--quiet", srv.URL("config"), filepath.Join(t.TempDir(), "c"))
		if (err == nil) != wantOK {
			t.Errorf("clone with token %s: err %v, want ok=%v\n%s", token, err, wantOK, out)
		}
	}
}

func TestHTTPStopRestart(t *testing.T) {
	dir := t.TempDir()
	repo, _ := newRepo(t, dir, map[string]string{"f": "1"})
	srv, err := Start(dir, Options{})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(srv.Stop)
	srv.Stop()
	if out, err := cliGit(t, nil, "ls-remote", srv.URL("config")); err == nil {
		t.Fatalf("ls-remote against a stopped server succeeded: %s", out)
	}
	if err := srv.Restart(); err != nil {
		t.Fatalf("restart: %v", err)
	}
	out, err := cliGit(t, nil, "ls-remote", srv.URL("config"))
	if err != nil || !strings.Contains(out, repo.Head()) {
		t.Fatalf("ls-remote after restart: %v\n%s", err, out)
	}
}

func TestRepoHistory(t *testing.T) {
	dir := t.TempDir()
	repo, first := newRepo(t, dir, map[string]string{"keep": "k", "gone/x": "x"})
	if err := repo.Remove("gone"); err != nil {
		t.Fatalf("remove: %v", err)
	}
	second, err := repo.Commit("second")
	if err != nil || second == first || repo.Head() != second {
		t.Fatalf("second commit %s (first %s, head %s): %v", second, first, repo.Head(), err)
	}
	reverted, err := repo.Revert(second)
	if err != nil {
		t.Fatalf("revert: %v", err)
	}
	if err := repo.Tag("v1"); err != nil {
		t.Fatalf("tag: %v", err)
	}
	if err := repo.TagAnnotated("v1-annotated", "release"); err != nil {
		t.Fatalf("annotated tag: %v", err)
	}
	if err := repo.Branch("feature"); err != nil {
		t.Fatalf("branch: %v", err)
	}
	if err := repo.Checkout("feature"); err != nil {
		t.Fatalf("checkout: %v", err)
	}
	onFeature, err := repo.Commit("on feature")
	if err != nil {
		t.Fatalf("commit on feature: %v", err)
	}
	out, err := cliGit(t, nil, "--git-dir", repo.Path(), "show-ref")
	if err != nil {
		t.Fatalf("show-ref: %v\n%s", err, out)
	}
	for _, want := range []string{reverted + " refs/heads/main", onFeature + " refs/heads/feature", reverted + " refs/tags/v1"} {
		if !strings.Contains(out, want) {
			t.Errorf("bare refs lack %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "refs/tags/v1-annotated") {
		t.Errorf("bare refs lack the annotated tag:\n%s", out)
	}
}

// TestRepoDeterministic checks that the same history gets the same hashes in another repository.
func TestRepoDeterministic(t *testing.T) {
	_, a := newRepo(t, t.TempDir(), map[string]string{"f": "same"})
	_, b := newRepo(t, t.TempDir(), map[string]string{"f": "same"})
	if a != b {
		t.Errorf("same history, different hashes: %s and %s", a, b)
	}
}

func TestRepoConcurrentUse(t *testing.T) {
	repo, _ := newRepo(t, t.TempDir(), map[string]string{"f": "0"})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := repo.WriteFiles(map[string]string{"f" + string(rune('a'+i)): "x"}); err != nil {
				errs <- err
				return
			}
			if _, err := repo.Commit("concurrent"); err != nil {
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

func TestRepoRejectsPathsOutsideTree(t *testing.T) {
	repo, _ := newRepo(t, t.TempDir(), map[string]string{"f": "0"})
	for _, p := range []string{"../escape", "/abs", ".git/config", ""} {
		if err := repo.WriteFiles(map[string]string{p: "x"}); err == nil {
			t.Errorf("WriteFiles(%q) succeeded", p)
		}
	}
}
