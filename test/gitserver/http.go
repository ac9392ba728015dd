package gitserver

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cgi"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configures the HTTP server. With neither Username/Password nor BearerToken set, every
// request is served anonymously. With either set, a request needs matching basic credentials or
// an `Authorization: Bearer <token>` header; others get 401 with a WWW-Authenticate challenge.
type Options struct {
	Username, Password string
	BearerToken        string
}

// Server serves the bare repositories under a directory over HTTP on 127.0.0.1.
type Server struct {
	root     string
	addr     string
	handler  http.Handler
	requests atomic.Int64

	mu      sync.Mutex
	srv     *http.Server
	running bool
	serving sync.WaitGroup // the Serve goroutine and requests in flight
}

// Start serves every bare repository under dir at http://127.0.0.1:PORT/<path below dir>, on a
// random free port, through `git http-backend`.
func Start(dir string, opts Options) (*Server, error) {
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolve git server root %s: %w", dir, err)
	}
	execPath, err := gitExecPath()
	if err != nil {
		return nil, fmt.Errorf("find git's exec path: %w", err)
	}
	// HOME is the served root: it holds no .gitconfig, and nothing is left behind elsewhere.
	backend := &cgi.Handler{
		Path: filepath.Join(execPath, "git-http-backend"),
		Env:  gitEnv(root, "GIT_PROJECT_ROOT="+root, "GIT_HTTP_EXPORT_ALL=1"),
		// Its complaints ("Not a git repository") reach clients as HTTP statuses anyway.
		Stderr: io.Discard,
	}
	s := &Server{root: root}
	s.handler = s.countRequests(authenticate(opts, backend))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for git http server: %w", err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	return s, nil
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.addr }

// Dir is the absolute directory of the served repositories.
func (s *Server) Dir() string { return s.root }

// URL is the clone URL of the repository at repo below the served directory; ".git" is appended
// unless repo already ends with it.
func (s *Server) URL(repo string) string {
	return "http://" + s.addr + "/" + repoPath(repo)
}

// Requests counts the HTTP requests the server has received, rejected ones included.
func (s *Server) Requests() int64 { return s.requests.Load() }

// Stop closes the listener and every open connection, and waits until the requests in flight
// have returned. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	if !s.running {
		s.mu.Unlock()
		return
	}
	s.running = false
	srv := s.srv
	s.mu.Unlock()
	_ = srv.Close()
	s.serving.Wait()
}

// Restart listens again on the same address after Stop.
func (s *Server) Restart() error {
	s.mu.Lock()
	running := s.running
	s.mu.Unlock()
	if running {
		return errors.New("restart git http server: it is running")
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("listen again on %s: %w", s.addr, err)
	}
	s.serve(ln)
	return nil
}

func (s *Server) serve(ln net.Listener) {
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	s.mu.Lock()
	s.srv, s.running = srv, true
	s.serving.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.serving.Done()
		_ = srv.Serve(ln) // returns http.ErrServerClosed after Stop

	}()
}

// countRequests counts every request and lets Stop wait for the ones in flight. A request
// arriving while the server stops is refused, so the wait group never grows during Stop's wait.
func (s *Server) countRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		s.mu.Lock()
		if !s.running {
			s.mu.Unlock()
			http.Error(w, "server stopping", http.StatusServiceUnavailable)
			return
		}
		s.serving.Add(1)
		s.mu.Unlock()
		defer s.serving.Done()
		next.ServeHTTP(w, r)
	})
}

// authenticate guards next with basic and bearer authentication when opts asks for either.
func authenticate(opts Options, next http.Handler) http.Handler {
	if opts.Username == "" && opts.Password == "" && opts.BearerToken == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if authorized(opts, r) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="gitserver"`)
		http.Error(w, "authentication required", http.StatusUnauthorized)
	})
}

func authorized(opts Options, r *http.Request) bool {
	if opts.BearerToken != "" {
		if token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			return equal(token, opts.BearerToken)
		}
	}
	if opts.Username == "" && opts.Password == "" {
		return false
	}
	user, pass, ok := r.BasicAuth()
	return ok && equal(user, opts.Username) && equal(pass, opts.Password)
}

func equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// repoPath is repo without leading slashes and with a ".git" suffix.
func repoPath(repo string) string {
	repo = strings.TrimLeft(repo, "/")
	if !strings.HasSuffix(repo, ".git") {
		repo += ".git"
	}
	return repo
}
