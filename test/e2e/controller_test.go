package e2e

import (
	"context"
	"crypto/tls"
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

	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

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

// impersonatingKubeconfig writes a copy of the test cluster's kubeconfig whose user acts as
// identity (`as:`), as the shipped Deployment's ServiceAccount token would.
func impersonatingKubeconfig(t *testing.T, identity string) string {
	t.Helper()
	kc, err := clientcmd.LoadFromFile(env.cluster.Kubeconfig)
	if err != nil {
		t.Fatalf("load kubeconfig: %v", err)
	}
	for _, user := range kc.AuthInfos {
		user.Impersonate = identity
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatalf("write kubeconfig: %v", err)
	}
	return path
}

// TestControllerServesProbesAndStopsOnSIGTERM runs the binary with every controller as the
// shipped ServiceAccount, electing a leader in sluice-system with the shipped Role.
func TestControllerServesProbesAndStopsOnSIGTERM(t *testing.T) {
	bin := buildController(t)
	applyControllerRBAC(t)
	kubeconfig := impersonatingKubeconfig(t, controllerIdentity)
	metrics, probes := freeAddr(t), freeAddr(t)
	out := &syncBuffer{}
	cmd := exec.Command(bin, "--kubeconfig", kubeconfig, "--leader-elect", "--leader-election-namespace", "sluice-system",
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
	eventually(t, 30*time.Second, "the controller to hold the leader lease in sluice-system", func() (bool, error) {
		lease := &coordinationv1.Lease{}
		err := env.client.Get(context.Background(), client.ObjectKey{Namespace: "sluice-system", Name: "sluice-controller.sluice.dev"}, lease)
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil && ptr.Deref(lease.Spec.HolderIdentity, "") != "", err
	})
	if strings.Contains(out.String(), "forbidden") {
		t.Fatalf("the controller was refused a request under the shipped RBAC:\n%s", out.String())
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

// TestControllerMetricsNeedAuthorization: with --metrics-secure (the shipped Deployment's
// setting) the metrics are HTTPS and answered only to callers the API server authenticates and
// authorizes to get /metrics, through the sluice-metrics-reader ClusterRole of config/rbac. The
// controller asks the API server under the shipped RBAC.
func TestControllerMetricsNeedAuthorization(t *testing.T) {
	ctx := context.Background()
	bin := buildController(t)
	applyControllerRBAC(t)
	metrics, probes := freeAddr(t), freeAddr(t)
	out := &syncBuffer{}
	cmd := exec.Command(bin, "--kubeconfig", impersonatingKubeconfig(t, controllerIdentity), "--controllers", "rollout",
		"--metrics-bind-address", metrics, "--metrics-secure", "--health-probe-bind-address", probes, "--log-format", "text")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start controller: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})

	ns := newNamespace(t)
	token := func(name string) string {
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
		must(t, "create ServiceAccount "+name, env.client.Create(ctx, sa))
		req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)}}
		must(t, "request a token for "+name, env.client.SubResource("token").Create(ctx, sa, req))
		return req.Status.Token
	}
	reader, stranger := token("prometheus"), token("stranger")
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: ns + "-metrics-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "sluice-metrics-reader"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: ns, Name: "prometheus"}},
	}
	must(t, "bind sluice-metrics-reader", env.client.Create(ctx, binding))
	t.Cleanup(func() { _ = env.client.Delete(context.Background(), binding) })

	// The certificate is self-signed: what is checked here is who may read, not the server's name.
	httpsClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // a test of authorization, not of the certificate
	}}
	get := func(token string) (int, error) {
		req, err := http.NewRequest(http.MethodGet, "https://"+metrics+"/metrics", nil)
		if err != nil {
			return 0, err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := httpsClient.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	eventually(t, 30*time.Second, "the authorized scraper to read the metrics", func() (bool, error) {
		code, err := get(reader)
		if err != nil {
			return false, nil // not listening yet
		}
		return code == http.StatusOK, nil
	})
	for _, c := range []struct {
		who, token string
		want       int
	}{{"no token", "", http.StatusUnauthorized}, {"a ServiceAccount without the role", stranger, http.StatusForbidden}} {
		if code, err := get(c.token); err != nil || code != c.want {
			t.Errorf("metrics for %s: %d, %v; want %d", c.who, code, err, c.want)
		}
	}
	if resp, err := http.Get("http://" + metrics + "/metrics"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("the secure metrics endpoint answered plain HTTP")
		}
	}
	if strings.Contains(out.String(), "forbidden") {
		t.Errorf("the controller was refused a request under the shipped RBAC:\n%s", out.String())
	}
}
