package gitserver

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSHOptions configures the SSH server.
type SSHOptions struct {
	// AuthorizedKeys are the client keys allowed in; every other key is rejected.
	AuthorizedKeys []ssh.PublicKey
	// AllowPush also runs git-receive-pack, so clients can push.
	AllowPush bool
}

// SSHServer serves the bare repositories under a directory over SSH on 127.0.0.1.
type SSHServer struct {
	root    string
	addr    string
	hostKey ssh.PublicKey
	config  *ssh.ServerConfig
	opts    SSHOptions
	ln      net.Listener

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup // the accept loop and every connection
}

// GenerateKey makes an ed25519 key pair: the private key as an OpenSSH-format PEM block
// (unencrypted, loadable by go-git and ssh), and its public key.
func GenerateKey() (privatePEM []byte, pub ssh.PublicKey, err error) {
	pubKey, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate ed25519 key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return nil, nil, fmt.Errorf("marshal private key: %w", err)
	}
	pub, err = ssh.NewPublicKey(pubKey)
	if err != nil {
		return nil, nil, fmt.Errorf("convert public key: %w", err)
	}
	return pem.EncodeToMemory(block), pub, nil
}

// StartSSH serves every bare repository under dir at ssh://git@127.0.0.1:PORT/<path below dir>,
// on a random free port, with a freshly generated ed25519 host key.
func StartSSH(dir string, opts SSHOptions) (*SSHServer, error) {
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolve ssh server root %s: %w", dir, err)
	}
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ssh host key: %w", err)
	}
	signer, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		return nil, fmt.Errorf("make ssh host key signer: %w", err)
	}
	s := &SSHServer{root: root, hostKey: signer.PublicKey(), opts: opts, conns: map[net.Conn]struct{}{}}
	s.config = &ssh.ServerConfig{PublicKeyCallback: s.checkKey}
	s.config.AddHostKey(signer)
	s.ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for ssh server: %w", err)
	}
	s.addr = s.ln.Addr().String()
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// Addr is the server's host:port.
func (s *SSHServer) Addr() string { return s.addr }

// HostKey is the server's public host key.
func (s *SSHServer) HostKey() ssh.PublicKey { return s.hostKey }

// KnownHostsLine is the known_hosts line for the server: "[127.0.0.1]:PORT ssh-ed25519 AAAA...".
// OpenSSH, x/crypto's knownhosts and go-git write a host on a port other than 22 in brackets
// with the port; on port 22 the bare host.
func (s *SSHServer) KnownHostsLine() string {
	return knownhosts.Line([]string{s.addr}, s.hostKey)
}

// URL is the clone URL of the repository at repo below the served directory; ".git" is appended
// unless repo already ends with it.
func (s *SSHServer) URL(repo string) string {
	return "ssh://git@" + s.addr + "/" + repoPath(repo)
}

// Stop closes the listener and every connection and waits for their goroutines.
func (s *SSHServer) Stop() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	_ = s.ln.Close()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *SSHServer) checkKey(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	for _, k := range s.opts.AuthorizedKeys {
		if bytes.Equal(k.Marshal(), key.Marshal()) {
			return &ssh.Permissions{}, nil
		}
	}
	return nil, errors.New("public key not authorized")
}

func (s *SSHServer) acceptLoop() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return // closed by Stop
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = conn.Close()
			return
		}
		s.conns[conn] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(conn)
	}
}

func (s *SSHServer) serveConn(conn net.Conn) {
	defer s.wg.Done()
	defer func() {
		_ = conn.Close()
		s.mu.Lock()
		delete(s.conns, conn)
		s.mu.Unlock()
	}()
	sc, chans, reqs, err := ssh.NewServerConn(conn, s.config)
	if err != nil {
		return // failed handshake or rejected key
	}
	defer func() { _ = sc.Close() }()
	go ssh.DiscardRequests(reqs)
	var sessions sync.WaitGroup
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only session channels")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			continue
		}
		sessions.Add(1)
		go func() {
			defer sessions.Done()
			s.serveSession(ch, chReqs)
		}()
	}
	sessions.Wait()
}

// serveSession answers one session channel: the first exec request runs a git command, every
// other request (pty, shell, env) is refused.
func (s *SSHServer) serveSession(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer func() { _ = ch.Close() }()
	for req := range reqs {
		if req.Type != "exec" {
			_ = req.Reply(false, nil)
			continue
		}
		var payload struct{ Command string }
		if err := ssh.Unmarshal(req.Payload, &payload); err != nil {
			_ = req.Reply(false, nil)
			continue
		}
		cmd, err := s.gitCommand(payload.Command)
		if err != nil {
			_ = req.Reply(true, nil)
			fmt.Fprintf(ch.Stderr(), "gitserver: %v\n", err)
			sendExitStatus(ch, 128)
			return
		}
		_ = req.Reply(true, nil)
		go ssh.DiscardRequests(reqs)
		sendExitStatus(ch, runCommand(cmd, ch))
		return
	}
}

// gitCommand parses `git-upload-pack '<path>'` (or git-receive-pack when pushing is allowed) and
// returns the command to run against the repository below the served root.
func (s *SSHServer) gitCommand(line string) (*exec.Cmd, error) {
	line = strings.TrimSpace(line)
	if rest, ok := strings.CutPrefix(line, "git "); ok {
		line = "git-" + rest // `git upload-pack` is the same as `git-upload-pack`
	}
	prog, arg, ok := strings.Cut(line, " ")
	switch {
	case !ok:
		return nil, fmt.Errorf("unsupported command %q", line)
	case prog == "git-upload-pack", prog == "git-receive-pack" && s.opts.AllowPush:
	default:
		return nil, fmt.Errorf("unsupported command %q", prog)
	}
	repo, err := s.repoDir(arg)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("git", strings.TrimPrefix(prog, "git-"), repo)
	cmd.Env = gitEnv(s.root)
	return cmd, nil
}

// repoDir maps the quoted path of an exec request to a bare repository below the root.
func (s *SSHServer) repoDir(arg string) (string, error) {
	p := strings.TrimSpace(arg)
	if len(p) >= 2 && p[0] == '\'' && p[len(p)-1] == '\'' {
		p = p[1 : len(p)-1]
	}
	if strings.ContainsAny(p, "'\\") {
		return "", fmt.Errorf("unsupported repository path %q", p)
	}
	rel := filepath.Clean("/" + strings.TrimPrefix(p, "~"))
	dir := filepath.Join(s.root, rel)
	if fi, err := os.Stat(filepath.Join(dir, "HEAD")); err != nil || fi.IsDir() {
		return "", fmt.Errorf("repository %q not found", p)
	}
	return dir, nil
}

// runCommand runs cmd with the channel as its stdin, stdout and stderr and returns its exit code.
// The client may never close its side, so stdin is copied by a goroutine nobody waits for: it
// ends when the channel closes.
func runCommand(cmd *exec.Cmd, ch ssh.Channel) int {
	cmd.Stdout = ch
	cmd.Stderr = ch.Stderr()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return 128
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(ch.Stderr(), "gitserver: start %s: %v\n", cmd.Path, err)
		return 128
	}
	go func() {
		_, _ = io.Copy(stdin, ch)
		_ = stdin.Close()
	}()
	err = cmd.Wait()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exitErr) && exitErr.ExitCode() >= 0:
		return exitErr.ExitCode()
	default:
		return 128
	}
}

func sendExitStatus(ch ssh.Channel, code int) {
	_ = ch.CloseWrite()
	status := struct{ Status uint32 }{uint32(code)}
	_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(&status))
}
