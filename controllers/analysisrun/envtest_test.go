package analysisrun_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/controllers/analysisrun"
	"github.com/sluice-dev/sluice/test/cluster"
)

var (
	restConfig *rest.Config
	scheme     = runtime.NewScheme()
	k8s        client.Client
)

// TestMain runs the AnalysisRun controller's tests against a real kube-apiserver and etcd
// (envtest). There is no Job controller: Jobs stay as they are created.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	root, err := cluster.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	env := &envtest.Environment{
		CRDInstallOptions:     envtest.CRDInstallOptions{Paths: []string{filepath.Join(root, "config", "crd", "bases")}},
		ErrorIfCRDPathMissing: true,
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		env.BinaryAssetsDirectory = cluster.ToolsDir()
	}
	restConfig, err = env.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "start envtest (run `make tools` first):", err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1alpha1.AddToScheme(scheme)
	if k8s, err = client.New(restConfig, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, "create client:", err)
		return 1
	}
	return m.Run()
}

// logBuffer collects everything a manager logs, at every verbosity.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		b.mu.Lock()
		defer b.mu.Unlock()
		fmt.Fprintln(&b.buf, prefix, args)
	}, funcr.Options{Verbosity: 10})
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startController runs a manager watching only ns, with the reconciler set up by configure
// (its clients and providers default to the manager's). It returns what the manager logged.
func startController(t *testing.T, ns string, configure func(mgr ctrl.Manager, r *analysisrun.AnalysisRunReconciler)) *logBuffer {
	t.Helper()
	logs := &logBuffer{}
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme: scheme, Logger: logs.logger(), Metrics: metricsserver.Options{BindAddress: "0"},
		Cache:      cache.Options{DefaultNamespaces: map[string]cache.Config{ns: {}}},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatalf("create manager: %v", err)
	}
	r := analysisrun.NewReconciler(mgr)
	if configure != nil {
		configure(mgr, r)
	}
	if err := r.SetupWithManager(mgr); err != nil {
		t.Fatalf("set up controller: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return logs
}

func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "analysis-"}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}

func createSecret(t *testing.T, ns, name string, data map[string]string) {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, StringData: data}
	if err := k8s.Create(context.Background(), s); err != nil {
		t.Fatalf("create secret %s: %v", name, err)
	}
}

func createRun(t *testing.T, ns, name string, spec v1alpha1.AnalysisRunSpec) {
	t.Helper()
	run := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}
	if err := k8s.Create(context.Background(), run); err != nil {
		t.Fatalf("create analysis run %s: %v", name, err)
	}
}

func getRun(t *testing.T, ns, name string) *v1alpha1.AnalysisRun {
	t.Helper()
	var run v1alpha1.AnalysisRun
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &run); err != nil {
		t.Fatalf("get analysis run %s: %v", name, err)
	}
	return &run
}

// waitRun polls the run until cond holds, and returns it.
func waitRun(t *testing.T, ns, name string, timeout time.Duration, what string, cond func(*v1alpha1.AnalysisRun) bool) *v1alpha1.AnalysisRun {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		run := getRun(t, ns, name)
		if cond(run) {
			return run
		}
		if time.Now().After(deadline) {
			t.Fatalf("analysis run %s: timed out waiting for %s; status %+v", name, what, run.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitPhase(t *testing.T, ns, name string, timeout time.Duration, want v1alpha1.AnalysisPhase) *v1alpha1.AnalysisRun {
	t.Helper()
	run := waitRun(t, ns, name, timeout, "a final phase", func(r *v1alpha1.AnalysisRun) bool { return r.Status.Phase.Completed() })
	if run.Status.Phase != want {
		t.Fatalf("analysis run %s ended %s (%q), want %s", name, run.Status.Phase, run.Status.Message, want)
	}
	return run
}

// eventNotes returns the notes of the events about the run.
func eventNotes(t *testing.T, ns, name string) []string {
	t.Helper()
	var list eventsv1.EventList
	if err := k8s.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatalf("list events: %v", err)
	}
	var out []string
	for _, e := range list.Items {
		if e.Regarding.Name == name {
			out = append(out, e.Reason+": "+e.Note)
		}
	}
	return out
}

func count(n int32) *intstr.IntOrString { v := intstr.FromInt32(n); return &v }

func secretArg(name, secret, key string) v1alpha1.Argument {
	return v1alpha1.Argument{Name: name, ValueFrom: &v1alpha1.ValueFrom{SecretKeyRef: &v1alpha1.SecretKeyRef{Name: secret, Key: key}}}
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
