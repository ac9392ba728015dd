// Package gitserver serves real Git repositories on loopback for tests, the demo and benchmarks:
// `git http-backend` behind net/http/cgi, with optional basic or bearer auth, and a helper that
// makes commits with the git command line.
package gitserver

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options turn on authentication; empty means anonymous access.
type Options struct {
	Username, Password string
	BearerToken        string
}

// Server serves every bare repository under its directory over HTTP.
type Server struct {
	dir      string
	opts     Options
	addr     string
	handler  http.Handler
	requests atomic.Int64

	mu  sync.Mutex
	srv *http.Server
}

// Start serves the bare repositories under dir on a free loopback port.
func Start(dir string, opts Options) (*Server, error) {
	backend, err := exec.LookPath("git")
	if err != nil {
		return nil, fmt.Errorf("find git: %w", err)
	}
	s := &Server{dir: dir, opts: opts}
	s.handler = &cgi.Handler{
		Path: backend,
		Args: []string{"http-backend"},
		Env:  []string{"GIT_PROJECT_ROOT=" + dir, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1", "HOME=" + dir},
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	s.addr = l.Addr().String()
	s.serve(l)
	return s, nil
}

func (s *Server) serve(l net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(s.serveHTTP), ReadHeaderTimeout: 10 * time.Second}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
		http.Error(w, "authentication required", http.StatusUnauthorized)
		return
	}
	// http-backend wants REMOTE_USER for pushes; tests only fetch, but set it anyway.
	r.Header.Del("Authorization")
	s.handler.ServeHTTP(w, r)
}

func (s *Server) authorized(r *http.Request) bool {
	if s.opts.Username == "" && s.opts.BearerToken == "" {
		return true
	}
	if s.opts.BearerToken != "" {
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok &&
			subtle.ConstantTimeCompare([]byte(tok), []byte(s.opts.BearerToken)) == 1 {
			return true
		}
	}
	if s.opts.Username != "" {
		u, p, ok := r.BasicAuth()
		return ok && subtle.ConstantTimeCompare([]byte(u), []byte(s.opts.Username)) == 1 &&
			subtle.ConstantTimeCompare([]byte(p), []byte(s.opts.Password)) == 1
	}
	return false
}

// URL is the clone URL of repository name (without .git).
func (s *Server) URL(name string) string { return "http://" + s.addr + "/" + name + ".git" }

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.addr }

// Requests is the number of HTTP requests served so far.
func (s *Server) Requests() int64 { return s.requests.Load() }

// Stop closes the listener and every connection.
func (s *Server) Stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			_ = srv.Close()
		}
	}
}

// Restart listens again on the same address after Stop.
func (s *Server) Restart() error {
	var l net.Listener
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err = net.Listen("tcp", s.addr)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond) // the old socket may linger a moment
	}
	if err != nil {
		return fmt.Errorf("listen again on %s: %w", s.addr, err)
	}
	s.serve(l)
	return nil
}

// Dir is the directory of the bare repositories.
func (s *Server) Dir() string { return s.dir }

func bareDir(dir, name string) string { return filepath.Join(dir, name+".git") }
