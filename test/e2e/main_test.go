// Package e2e runs end-to-end tests against the real local control plane of test/cluster.
package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	rolloutsv1alpha1 "github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	sluicev1alpha1 "github.com/sluice-dev/sluice/api/sluice/v1alpha1"
	"github.com/sluice-dev/sluice/test/cluster"
)

// env is the cluster every test in this package shares; each test works in its own namespace.
var env struct {
	cluster *cluster.Cluster
	client  client.Client
	scheme  *runtime.Scheme
}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "sluice-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	c, err := cluster.Start(context.Background(), cluster.Options{Dir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: start local cluster:", err)
		return 1
	}
	defer func() {
		c.Stop()
		_ = os.RemoveAll(dir)
	}()
	env.cluster = c
	env.scheme = runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme, rolloutsv1alpha1.AddToScheme, sluicev1alpha1.AddToScheme,
		gatewayv1.Install, istionetworkingv1.AddToScheme,
	} {
		if err := add(env.scheme); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: build scheme:", err)
			return 1
		}
	}
	env.client, err = client.New(c.Config, client.Options{Scheme: env.scheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: create client:", err)
		return 1
	}
	return m.Run()
}

// newNamespace creates a namespace for one test and deletes it when the test ends.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-"}}
	if err := env.client.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() { _ = env.client.Delete(context.Background(), ns) })
	// Pods need the namespace's default ServiceAccount, which the controller-manager creates.
	eventually(t, 30*time.Second, "default ServiceAccount in "+ns.Name, func() (bool, error) {
		err := env.client.Get(context.Background(), client.ObjectKey{Namespace: ns.Name, Name: "default"}, &corev1.ServiceAccount{})
		return err == nil, client.IgnoreNotFound(err)
	})
	return ns.Name
}

// eventually polls cond every 50ms until it holds, failing the test at the deadline with the last
// error cond returned.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for {
		ok, err := cond()
		if ok {
			return
		}
		if err != nil {
			last = err
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s (last error: %v)", timeout, what, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// zapLevel is the controllers' log level in tests: info, or debug with SLUICE_E2E_DEBUG=1.
func zapLevel() zapcore.Level {
	if os.Getenv("SLUICE_E2E_DEBUG") != "" {
		return zapcore.DebugLevel
	}
	return zapcore.InfoLevel
}
