package gitserver

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	git "github.com/go-git/go-git/v5"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
)

// sshClient writes a private key and a known_hosts file for the CLI and returns the environment
// that makes `git` use them.
func sshClient(t *testing.T, srv *SSHServer, key []byte, knownHosts string) []string {
	t.Helper()
	dir := t.TempDir()
	keyPath, hostsPath := filepath.Join(dir, "id"), filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(keyPath, key, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(hostsPath, []byte(knownHosts+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := "ssh -F /dev/null -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes" +
		" -o UserKnownHostsFile=" + hostsPath + " -i " + keyPath
	return []string{"GIT_SSH_COMMAND=" + cmd}
}

func startSSH(t *testing.T, dir string, keys ...ssh.PublicKey) *SSHServer {
	t.Helper()
	srv, err := StartSSH(dir, SSHOptions{AuthorizedKeys: keys})
	if err != nil {
		t.Fatalf("start ssh: %v", err)
	}
	t.Cleanup(srv.Stop)
	return srv
}

func TestKnownHostsLineFormat(t *testing.T) {
	srv := startSSH(t, t.TempDir())
	line := srv.KnownHostsLine()
	want := "[127.0.0.1]:" + strings.TrimPrefix(srv.Addr(), "127.0.0.1:") + " ssh-ed25519 "
	if !strings.HasPrefix(line, want) {
		t.Errorf("KnownHostsLine() = %q, want prefix %q", line, want)
	}
	if !strings.HasPrefix(srv.URL("config"), "ssh://git@"+srv.Addr()+"/config.git") {
		t.Errorf("URL = %s", srv.URL("config"))
	}
}

func TestSSHCloneWithGoGit(t *testing.T) {
	dir := t.TempDir()
	_, sha := newRepo(t, dir, map[string]string{"app/cm.yaml": "kind: ConfigMap\n"})
	key, pub, err := GenerateKey()
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	srv := startSSH(t, dir, pub)
	hosts := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(hosts, []byte(srv.KnownHostsLine()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	auth, err := gitssh.NewPublicKeys("git", key, "")
	if err != nil {
		t.Fatalf("load generated key with go-git: %v", err)
	}
	if auth.HostKeyCallback, err = gitssh.NewKnownHostsCallback(hosts); err != nil {
		t.Fatalf("known hosts: %v", err)
	}
	repo, err := git.PlainClone(t.TempDir(), false, &git.CloneOptions{URL: srv.URL("config"), Auth: auth})
	if err != nil {
		t.Fatalf("clone over ssh with go-git: %v", err)
	}
	head, err := repo.Head()
	if err != nil || head.Hash().String() != sha {
		t.Fatalf("cloned head %v (%v), want %s", head, err, sha)
	}
}

func TestSSHCloneWithCLI(t *testing.T) {
	dir := t.TempDir()
	newRepo(t, dir, map[string]string{"f": "cli"})
	key, pub, err := GenerateKey()
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	srv := startSSH(t, dir, pub)
	dst := filepath.Join(t.TempDir(), "clone")
	out, err := cliGit(t, sshClient(t, srv, key, srv.KnownHostsLine()), "clone", "--quiet", srv.URL("config"), dst)
	if err != nil {
		t.Fatalf("clone over ssh with git: %v\n%s", err, out)
	}
	if got := readFile(t, filepath.Join(dst, "f")); got != "cli" {
		t.Errorf("f = %q", got)
	}
}

func TestSSHRejectsUnknownKey(t *testing.T) {
	dir := t.TempDir()
	newRepo(t, dir, map[string]string{"f": "x"})
	_, allowed, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	srv := startSSH(t, dir, allowed)
	out, err := cliGit(t, sshClient(t, srv, other, srv.KnownHostsLine()), "ls-remote", srv.URL("config"))
	if err == nil || !strings.Contains(out, "Permission denied") {
		t.Fatalf("ls-remote with an unauthorized key: err %v, output %q; want permission denied", err, out)
	}
}

func TestSSHRefusesOtherCommands(t *testing.T) {
	dir := t.TempDir()
	newRepo(t, dir, map[string]string{"f": "x"})
	key, pub, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	srv := startSSH(t, dir, pub)
	env := sshClient(t, srv, key, srv.KnownHostsLine())
	// Pushing needs git-receive-pack, which this server does not run.
	repo := filepath.Join(t.TempDir(), "r")
	if out, err := cliGit(t, nil, "clone", "--quiet", filepath.Join(dir, "config.git"), repo); err != nil {
		t.Fatalf("local clone: %v\n%s", err, out)
	}
	out, err := cliGit(t, env, "-C", repo, "push", srv.URL("config"), "HEAD:refs/heads/other")
	if err == nil || !strings.Contains(out, "unsupported command") {
		t.Fatalf("push: err %v, output %q; want the command refused", err, out)
	}
	out, err = cliGit(t, env, "ls-remote", srv.URL("../outside"))
	if err == nil || !strings.Contains(out, "not found") {
		t.Fatalf("ls-remote outside the root: err %v, output %q; want not found", err, out)
	}
}
