package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/test/cluster"
)

// TestWithAPIServer runs the plugin against a real API server (envtest) that has no sluice CRDs
// at first: every rollout command says so in one line; once the CRDs are installed they work,
// and get --watch redraws in place on a terminal.
func TestWithAPIServer(t *testing.T) {
	env := &envtest.Environment{}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		env.BinaryAssetsDirectory = cluster.ToolsDir()
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start envtest (run `make tools` first): %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	admin, err := env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, string, int) {
		var out, errOut bytes.Buffer
		code := Run(t.Context(), append([]string{"--kubeconfig", path, "-n", "default"}, args...),
			genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
		return out.String(), errOut.String(), code
	}
	const want = "error: the rollouts.argoproj.io CRD is not installed in the cluster at "
	for _, args := range [][]string{{"get", "rollout", "web"}, {"list", "rollouts"}, {"promote", "web"}, {"status", "web"}} {
		_, stderr, code := run(args...)
		if code != 1 || !strings.HasPrefix(stderr, want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want exit 1 and one line starting %q", args, code, stderr, want)
		}
	}

	const wantSync = "error: the gitsyncs.sluice.dev CRD is not installed in the cluster at "
	for _, c := range []struct {
		args []string
		code int
	}{{[]string{"get", "sync", "app"}, 1}, {[]string{"list", "syncs"}, 1}, {[]string{"sync", "app"}, 1}, {[]string{"diff", "sync", "app"}, 2}} {
		_, stderr, code := run(c.args...)
		if code != c.code || !strings.HasPrefix(stderr, wantSync) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and one line starting %q", c.args, code, stderr, c.code, wantSync)
		}
	}

	root, err := cluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{Paths: []string{filepath.Join(root, "config", "crd", "bases")}}); err != nil {
		t.Fatalf("install CRDs: %v", err)
	}
	if stdout, stderr, code := run("list", "rollouts"); code != 0 || stdout != "No rollouts found.\n" {
		t.Fatalf("list rollouts with the CRDs: exit %d\n%s%s", code, stdout, stderr)
	}
	if _, stderr, code := run("get", "rollout", "web"); code != 1 || stderr != "error: rollout \"web\" not found in namespace \"default\" (it has no rollouts)\n" {
		t.Fatalf("get of a missing rollout: exit %d, %q", code, stderr)
	}
	if stdout, stderr, code := run("list", "syncs"); code != 0 || stdout != "No GitSyncs found.\n" {
		t.Fatalf("list syncs with the CRDs: exit %d\n%s%s", code, stdout, stderr)
	}
	if _, stderr, code := run("get", "sync", "app"); code != 1 || stderr != "error: gitsync \"app\" not found in namespace \"default\" (it has no GitSyncs)\n" {
		t.Fatalf("get of a missing gitsync: exit %d, %q", code, stderr)
	}
	t.Run("watch on a terminal", func(t *testing.T) { watchOnTerminal(t, cfg, path) })
}

// watchOnTerminal: on a terminal, get --watch redraws in place (clear screen, then the drawing)
// with icons and colour on each status change, and --no-color drops the colour. Without a
// rollout controller here, the test writes the status itself.
func watchOnTerminal(t *testing.T, cfg *rest.Config, kubeconfig string) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rollouts := dyn.Resource(rolloutsGVR).Namespace("default")
	ro := &v1alpha1.Rollout{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: v1alpha1.RolloutKind},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: v1alpha1.RolloutSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "web:1"}}},
			},
			Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{}},
		},
	}
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(ro)
	if err != nil {
		t.Fatal(err)
	}
	created, err := rollouts.Create(t.Context(), &unstructured.Unstructured{Object: obj}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	setPhase := func(phase string) {
		t.Helper()
		created.Object["status"] = map[string]any{"phase": phase, "observedGeneration": "1"}
		if created, err = rollouts.UpdateStatus(t.Context(), created, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	setPhase("Healthy")

	for _, c := range []struct {
		noColor bool
		paused  string
	}{{false, "\x1b[33m॥ Paused\x1b[0m"}, {true, "Status:         ॥ Paused\n"}} {
		var out, errOut syncWriter
		o := &Options{IOStreams: genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut},
			Now: time.Now, Terminal: func(io.Writer) bool { return true }}
		args := []string{"--kubeconfig", kubeconfig, "-n", "default", "get", "rollout", "web", "--watch"}
		if c.noColor {
			args = append(args, "--no-color")
		}
		ctx, stop := context.WithCancel(t.Context())
		done := make(chan int, 1)
		go func() { done <- run(ctx, args, newRootCommand(o)) }()
		waitFor(t, &out, "✔ Healthy")
		setPhase("Paused")
		waitFor(t, &out, c.paused)
		stop()
		if code := <-done; code != 0 {
			t.Fatalf("get --watch: exit %d: %s", code, errOut.String())
		}
		if n := strings.Count(out.String(), clearScreen); n < 2 {
			t.Fatalf("want a redraw in place per change, got %d clears:\n%q", n, out.String())
		}
		if c.noColor && strings.Contains(out.String(), "\x1b[3") {
			t.Fatalf("--no-color printed colour codes: %q", out.String())
		}
		setPhase("Healthy")
	}
}

// syncWriter is a buffer that a running command writes while the test reads it.
type syncWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func waitFor(t *testing.T, w *syncWriter, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(w.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %q in:\n%q", want, w.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
