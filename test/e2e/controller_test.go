package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/test/cluster"
)

// freeAddr returns a free loopback address.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// syncBuffer collects a child process's output; it is safe to read while the process writes.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// buildController builds cmd/sluice-controller into the test's temp dir.
func buildController(t *testing.T) string {
	t.Helper()
	root, err := cluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "sluice-controller")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/sluice-controller")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build sluice-controller: %v\n%s", err, out)
	}
	return bin
}

func TestControllerServesProbesAndStopsOnSIGTERM(t *testing.T) {
	bin := buildController(t)
	metrics, probes := freeAddr(t), freeAddr(t)
	out := &syncBuffer{}
	cmd := exec.Command(bin, "--kubeconfig", env.cluster.Kubeconfig, "--leader-elect",
		"--metrics-bind-address", metrics, "--health-probe-bind-address", probes, "--log-format", "text")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start controller: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
	})

	for _, path := range []string{"/healthz", "/readyz"} {
		url := fmt.Sprintf("http://%s%s", probes, path)
		eventually(t, 30*time.Second, url+" to answer 200", func() (bool, error) {
			select {
			case err := <-done:
				t.Fatalf("controller exited early: %v\n%s", err, out.String())
			default:
			}
			resp, err := http.Get(url)
			if err != nil {
				return false, err
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK, nil
		})
	}
	resp, err := http.Get(fmt.Sprintf("http://%s/metrics", metrics))
	if err != nil {
		t.Fatalf("metrics endpoint: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("metrics endpoint answered %d", resp.StatusCode)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("send SIGTERM: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("controller did not exit cleanly on SIGTERM: %v\n%s", err, out.String())
		}
	case <-ctx.Done():
		t.Fatalf("controller still running 30s after SIGTERM\n%s", out.String())
	}
	if !strings.Contains(out.String(), "Manager stopped") {
		t.Fatalf("controller log lacks the clean-stop line:\n%s", out.String())
	}
}
