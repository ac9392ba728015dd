// Command sluice-demo walks the article's workflow on the local control plane: `make demo` starts
// the cluster and the controller (with its webhook receiver) and runs it. It serves the sample
// config repository from a Git server on loopback, runs Prometheus and the demo exporter, plays
// the Gateway controller, and narrates six phases; then it keeps serving them, so the cluster can
// be explored, until interrupted.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	rolloutsv1alpha1 "github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	sluicev1alpha1 "github.com/sluice-dev/sluice/api/sluice/v1alpha1"
	"github.com/sluice-dev/sluice/test/cluster"
	"github.com/sluice-dev/sluice/test/demo"
)

func main() {
	kubeconfig := flag.String("kubeconfig", ".cluster/kubeconfig", "the local cluster's admin kubeconfig")
	dir := flag.String("dir", ".cluster/demo", "directory for the Git server's repository and Prometheus' data")
	webhookURL := flag.String("webhook-url", "", "the controller's webhook receiver (its --webhook-bind-address)")
	webhookSecret := flag.String("webhook-secret", "sluice-system/demo-webhook", "NAMESPACE/NAME of the controller's --webhook-secret; the demo writes its generic token there")
	serve := flag.Bool("serve", true, "after the walk, keep the Git server and Prometheus up until interrupted")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *kubeconfig, *dir, *webhookURL, *webhookSecret, *serve); err != nil {
		fmt.Fprintln(os.Stderr, "sluice-demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, kubeconfig, dir, webhookURL, webhookSecret string, serve bool) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("read %s (is the cluster up? make cluster-up): %w", kubeconfig, err)
	}
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, rolloutsv1alpha1.AddToScheme, sluicev1alpha1.AddToScheme, gatewayv1.Install} {
		if err := add(scheme); err != nil {
			return err
		}
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("connect to the cluster: %w", err)
	}
	root, err := cluster.RepoRoot()
	if err != nil {
		return err
	}
	if err := fresh(ctx, c); err != nil {
		return err
	}
	token := ""
	if webhookURL != "" {
		if token, err = writeWebhookToken(ctx, c, webhookSecret); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("clear %s: %w", dir, err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	d, err := demo.Start(ctx, demo.Options{Config: cfg, Client: c, RepoRoot: root, Dir: abs,
		WebhookURL: webhookURL, WebhookToken: token, Out: os.Stdout})
	if err != nil {
		return err
	}
	defer d.Stop()
	fmt.Printf("Git server: %s (bare repository %s); Prometheus: %s\n\n", d.RepoURL(), d.RepoPath(), d.PrometheusURL())
	if err := walk(ctx, d); err != nil {
		return err
	}
	fmt.Printf(`
The cluster keeps running. Explore it:
  export KUBECONFIG=%s
  kubectl sluice get rollout payments -n payments-staging
  kubectl sluice get sync payments-staging -n gitops
  git clone %s   # the config repository; push to %s and the GitSyncs follow
Stop it: make cluster-down
`, kubeconfig, d.RepoPath(), d.RepoURL())
	if !serve {
		return nil
	}
	fmt.Println("Serving the Git repository and Prometheus until interrupted (Ctrl-C); the GitSyncs need them to fetch.")
	<-ctx.Done()
	return nil
}

// walk runs the six phases.
func walk(ctx context.Context, d *demo.Demo) error {
	start := time.Now()
	if _, err := d.Bootstrap(ctx, 3*time.Minute); err != nil {
		return fmt.Errorf("phase 1: %w", err)
	}
	if _, err := d.Release(ctx, 2, "staging", "1.1.0", "payments 1.1.0 to staging", 3*time.Minute); err != nil {
		return fmt.Errorf("phase 2: %w", err)
	}
	if _, err := d.Promote(ctx, 3*time.Minute); err != nil {
		return fmt.Errorf("phase 3: %w", err)
	}
	bad, err := d.BadRelease(ctx, "1.2.0"+demo.BadSuffix, 3*time.Minute)
	if err != nil {
		return fmt.Errorf("phase 4: %w", err)
	}
	if _, err := d.Rollback(ctx, bad.Revision, 3*time.Minute); err != nil {
		return fmt.Errorf("phase 5: %w", err)
	}
	if _, err := d.SelfHeal(ctx, 5, time.Minute); err != nil {
		return fmt.Errorf("phase 6: %w", err)
	}
	fmt.Printf("\nThe whole workflow took %.0fs.\n", time.Since(start).Seconds())
	return nil
}

// fresh deletes what an earlier run left (its namespaces), so the walk starts from the first
// commit again, and says so.
func fresh(ctx context.Context, c client.Client) error {
	names := []string{demo.GitOpsNamespace, demo.Namespace("staging"), demo.Namespace("prod")}
	found := false
	for _, n := range names {
		err := c.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}})
		if err == nil {
			found = true
		} else if !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete namespace %s of an earlier run: %w", n, err)
		}
	}
	if !found {
		fmt.Println("Starting fresh: no earlier demo in this cluster.")
		return nil
	}
	fmt.Println("Removing the namespaces of an earlier demo run...")
	deadline := time.Now().Add(3 * time.Minute)
	for _, n := range names {
		for {
			err := c.Get(ctx, types.NamespacedName{Name: n}, &corev1.Namespace{})
			if apierrors.IsNotFound(err) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("namespace %s of an earlier run is still being deleted after 3m", n)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	fmt.Println("Removed; starting fresh.")
	return nil
}

// writeWebhookToken creates (or keeps) the Secret the controller's webhook receiver reads and
// returns its generic token.
func writeWebhookToken(ctx context.Context, c client.Client, ref string) (string, error) {
	ns, name, ok := cut(ref)
	if !ok {
		return "", fmt.Errorf("--webhook-secret %q: want NAMESPACE/NAME", ref)
	}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("create namespace %s: %w", ns, err)
	}
	sec := &corev1.Secret{}
	err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, sec)
	if err == nil && len(sec.Data["generic"]) > 0 {
		return string(sec.Data["generic"]), nil
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return "", fmt.Errorf("read the webhook Secret %s: %w", ref, err)
	}
	token := fmt.Sprintf("demo-%d", time.Now().UnixNano())
	sec = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, StringData: map[string]string{"generic": token}}
	if err := c.Create(ctx, sec); err != nil {
		return "", fmt.Errorf("create the webhook Secret %s: %w", ref, err)
	}
	return token, nil
}

func cut(ref string) (string, string, bool) {
	ns, name, ok := strings.Cut(ref, "/")
	return ns, name, ok && ns != "" && name != ""
}
