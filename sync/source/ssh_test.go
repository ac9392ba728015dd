package source

import (
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/sluice-dev/sluice/test/gitserver"
)

type sshSetup struct {
	srv  *gitserver.SSHServer
	repo *gitserver.Repo
	sha  string
	key  []byte
}

func newSSH(t *testing.T) sshSetup {
	t.Helper()
	dir := t.TempDir()
	key, pub, err := gitserver.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := gitserver.StartSSH(dir, gitserver.SSHOptions{AuthorizedKeys: []ssh.PublicKey{pub}})
	if err != nil {
		t.Fatalf("start ssh server: %v", err)
	}
	t.Cleanup(srv.Stop)
	repo, sha := newRepo(t, dir, "config", map[string]string{"app.yaml": "kind: ConfigMap\n"})
	return sshSetup{srv: srv, repo: repo, sha: sha, key: key}
}

func (s sshSetup) request(knownHosts string) Request {
	return Request{Key: "ns/ssh", RepoURL: s.srv.URL("config"),
		Credentials: &Credentials{SSHPrivateKey: s.key, KnownHosts: []byte(knownHosts)}}
}

func TestSSHFetch(t *testing.T) {
	ctx, _ := testCtx(t)
	s := newSSH(t)
	f := newFetcher(t)
	req := s.request("# a comment\n" + s.srv.KnownHostsLine() + "\n")
	co := mustFetch(t, ctx, f, req)
	if co.Commit != s.sha {
		t.Errorf("commit %s, want %s", co.Commit, s.sha)
	}
	sameFiles(t, co.Dir, map[string]string{"app.yaml": "kind: ConfigMap\n"})

	marker := placeMarker(t, f, req.Key)
	next := commit(t, s.repo, "next", map[string]string{"b.yaml": "b"}, "app.yaml")
	co = mustFetch(t, ctx, f, req)
	if co.Commit != next || !exists(marker) {
		t.Errorf("incremental ssh fetch: commit %s (want %s), cache kept %v", co.Commit, next, exists(marker))
	}
	sameFiles(t, co.Dir, map[string]string{"b.yaml": "b"})

	p, _ := f.paths(req.Key)
	if fi, err := os.Stat(p.knownHosts); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("known hosts file %s: %v, mode %v", p.knownHosts, err, fi.Mode())
	}
}

func TestSSHRefusesWithoutKnownHosts(t *testing.T) {
	ctx, _ := testCtx(t)
	s := newSSH(t)
	f := newFetcher(t)
	mustFail(t, ctx, f, s.request(""),
		"ssh: no knownHosts in the secret; refusing to connect without checking the host key")
	mustFail(t, ctx, f, Request{Key: "k", RepoURL: s.srv.URL("config")}, "no knownHosts")
	mustFail(t, ctx, f, Request{Key: "k", RepoURL: s.srv.URL("config"), Credentials: &Credentials{KnownHosts: []byte(s.srv.KnownHostsLine())}},
		"no sshPrivateKey")
}

func TestSSHRefusesWrongHostKey(t *testing.T) {
	ctx, _ := testCtx(t)
	s := newSSH(t)
	f := newFetcher(t)
	_, other, err := gitserver.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	wrong := knownhosts.Line([]string{s.srv.Addr()}, other)
	mustFail(t, ctx, f, s.request(wrong), "fetch "+s.srv.URL("config"), "did not match known hosts")

	// The right key, but for port 22: x/crypto's knownhosts needs "[host]:port" for other ports.
	onPort22 := knownhosts.Line([]string{"127.0.0.1"}, s.srv.HostKey())
	mustFail(t, ctx, f, s.request(onPort22), "is not in the secret's knownHosts", "[127.0.0.1]:")
}

func TestSSHRejectedClientKey(t *testing.T) {
	ctx, _ := testCtx(t)
	s := newSSH(t)
	f := newFetcher(t)
	req := s.request(s.srv.KnownHostsLine())
	mustFetch(t, ctx, f, req)
	marker := placeMarker(t, f, req.Key)
	other, _, err := gitserver.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	req.Credentials.SSHPrivateKey = other
	mustFail(t, ctx, f, req, "unable to authenticate")
	if !exists(marker) {
		t.Error("an authentication failure threw the cache away")
	}
}

// hangingServer accepts connections and never answers, like a stuck server behind a load balancer.
func hangingServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().String()
}

func TestFetchTimeout(t *testing.T) {
	ctx, _ := testCtx(t)
	addr := hangingServer(t)
	key, _, err := gitserver.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	_, hostKey, err := gitserver.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	f := &Fetcher{CacheDir: t.TempDir(), Timeout: time.Second}
	for _, req := range []Request{
		{Key: "http", RepoURL: "http://" + addr + "/config.git"},
		{Key: "ssh", RepoURL: "ssh://git@" + addr + "/config.git",
			Credentials: &Credentials{SSHPrivateKey: key, KnownHosts: []byte(knownhosts.Line([]string{addr}, hostKey))}},
	} {
		start := time.Now()
		err := mustFail(t, ctx, f, req, "fetch "+strings.SplitN(req.RepoURL, "/config", 2)[0], "timed out after 1s")
		t.Logf("%s: %s: %v", req.Key, time.Since(start), err)
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("%s: gave up after %s with %v, want about 1s", req.Key, took, err)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{60 * time.Second: "60s", 90 * time.Second: "90s", 1500 * time.Millisecond: "1.5s"} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%s) = %s, want %s", d, got, want)
		}
	}
}
