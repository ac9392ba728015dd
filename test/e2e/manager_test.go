package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/sluice-dev/sluice/controllers/managercache"
	"github.com/sluice-dev/sluice/test/cluster"
)

// startManager runs a controller-runtime manager in this process against the test cluster with
// the controllers that setup registers, and stops it when the test ends. Tests in this package run
// one at a time, so each test's manager is the only one reconciling. The manager runs as the
// controller's ServiceAccount with only the rights config/rbac grants it, so a verb missing from
// the shipped RBAC fails the test as it would in a cluster.
func startManager(t *testing.T, setup ...func(ctrl.Manager) error) ctrl.Manager {
	t.Helper()
	applyControllerRBAC(t)
	return startManagerAs(t, impersonating(controllerIdentity), setup...)
}

// impersonating is the test cluster's admin config acting as identity.
func impersonating(identity string) *rest.Config {
	cfg := rest.CopyConfig(env.cluster.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: identity}
	cfg.QPS, cfg.Burst = 100, 200
	return cfg
}

// applyControllerRBAC applies config/rbac (the controller's ClusterRole, its leader-election Role
// and their bindings) and removes config/default's sluice-sync binding, which a GitSync test may
// have left and which would grant the controller everything. It returns once the API server
// authorizes the controller's identity accordingly.
func applyControllerRBAC(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	root, err := cluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	// The ServiceAccount and the Role live in sluice-system, which another test may be deleting.
	eventually(t, 60*time.Second, "namespace sluice-system", func() (bool, error) {
		ns := &corev1.Namespace{}
		err := env.client.Get(ctx, client.ObjectKey{Name: "sluice-system"}, ns)
		if apierrors.IsNotFound(err) {
			err = env.client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "sluice-system"}})
			return err == nil, client.IgnoreAlreadyExists(err)
		}
		return err == nil && ns.DeletionTimestamp == nil, err
	})
	cmd := exec.Command(filepath.Join(cluster.ToolsDir(), "kubectl"), "--kubeconfig", env.cluster.Kubeconfig,
		"apply", "--server-side", "--force-conflicts", "-k", "config/rbac")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kubectl apply -k config/rbac: %v\n%s", err, out)
	}
	syncBinding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "sluice-sync"}}
	if err := env.client.Delete(ctx, syncBinding); client.IgnoreNotFound(err) != nil {
		t.Fatalf("delete ClusterRoleBinding sluice-sync: %v", err)
	}
	// The authorizer follows RBAC objects through a watch: wait until it grants what the shipped
	// role grants and no longer what only sluice-sync granted.
	eventually(t, 30*time.Second, "the shipped RBAC to take effect", func() (bool, error) {
		granted, err := allowed(ctx, controllerIdentity, authorizationv1.ResourceAttributes{Verb: "watch", Group: "argoproj.io", Resource: "rollouts"})
		if err != nil || !granted {
			return false, err
		}
		granted, err = allowed(ctx, controllerIdentity, authorizationv1.ResourceAttributes{Verb: "create", Resource: "configmaps"})
		return !granted, err
	})
}

// allowed asks the API server whether user may do what attrs says.
func allowed(ctx context.Context, user string, attrs authorizationv1.ResourceAttributes) (bool, error) {
	review := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: user, Groups: []string{"system:authenticated"}, ResourceAttributes: &attrs,
	}}
	if err := env.client.Create(ctx, review); err != nil {
		return false, err
	}
	return review.Status.Allowed, nil
}

// startManagerAs is startManager with the identity of cfg.
func startManagerAs(t *testing.T, cfg *rest.Config, setup ...func(ctrl.Manager) error) ctrl.Manager {
	t.Helper()
	ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.Level(zapLevel())))
	cacheOpts, err := managercache.Options()
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 env.scheme,
		Cache:                  cacheOpts, // what the shipped controller caches
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		// Each test starts its own manager with the same controllers.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatalf("create manager: %v", err)
	}
	for _, s := range setup {
		if err := s(mgr); err != nil {
			t.Fatalf("set up controller: %v", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("manager stopped with error: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("manager did not stop within 30s")
		}
	})
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		t.Fatalf("manager caches did not sync")
	}
	return mgr
}
