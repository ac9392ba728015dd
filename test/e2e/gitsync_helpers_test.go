package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sluicev1alpha1 "github.com/sluice-dev/sluice/api/sluice/v1alpha1"
	"github.com/sluice-dev/sluice/controllers/gitsync"
	"github.com/sluice-dev/sluice/sync/source"
	"github.com/sluice-dev/sluice/test/cluster"
	"github.com/sluice-dev/sluice/test/gitserver"
)

// controllerIdentity is the ServiceAccount config/rbac binds; the GitSync controller of these tests
// runs as it, so a right missing from the shipped RBAC fails the test as it would in a cluster.
const controllerIdentity = "system:serviceaccount:sluice-system:sluice-controller"

// applyShippedRBAC applies config/rbac and config/default's sluice-sync binding.
func applyShippedRBAC(t *testing.T) {
	t.Helper()
	root, err := cluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	// The ServiceAccount lives in sluice-system, which another test may just be deleting.
	eventually(t, 60*time.Second, "namespace sluice-system", func() (bool, error) {
		ns := &corev1.Namespace{}
		err := env.client.Get(context.Background(), client.ObjectKey{Name: "sluice-system"}, ns)
		if apierrors.IsNotFound(err) {
			err = env.client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "sluice-system"}})
			return err == nil, client.IgnoreAlreadyExists(err)
		}
		return err == nil && ns.DeletionTimestamp == nil, err
	})
	kubectl := filepath.Join(cluster.ToolsDir(), "kubectl")
	for _, args := range [][]string{
		{"apply", "--server-side", "--force-conflicts", "-k", "config/rbac"},
		{"apply", "--server-side", "--force-conflicts", "-f", "config/default/sync_role_binding.yaml"},
	} {
		cmd := exec.Command(kubectl, append([]string{"--kubeconfig", env.cluster.Kubeconfig}, args...)...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("kubectl %v: %v\n%s", args, err, out)
		}
	}
}

// startGitSyncController runs the GitSync controller under the shipped RBAC.
func startGitSyncController(t *testing.T) {
	t.Helper()
	startGitSyncReconciler(t)
}

// startGitSyncReconciler is startGitSyncController, returning the reconciler (for its webhook
// receiver).
func startGitSyncReconciler(t *testing.T) *gitsync.Reconciler {
	t.Helper()
	applyShippedRBAC(t)
	return startGitSyncReconcilerAs(t, controllerIdentity, nil)
}

// startGitSyncReconcilerAs runs the GitSync controller as identity (whose RBAC the caller set
// up), with mutate changing the reconciler's options before it starts.
func startGitSyncReconcilerAs(t *testing.T, identity string, mutate func(*gitsync.Reconciler)) *gitsync.Reconciler {
	t.Helper()
	cfg := rest.CopyConfig(env.cluster.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: identity}
	cfg.QPS, cfg.Burst = 100, 200
	var r *gitsync.Reconciler
	startManagerAs(t, cfg, func(mgr ctrl.Manager) error {
		clients, err := gitsync.NewClients(cfg, 8)
		if err != nil {
			return err
		}
		r = &gitsync.Reconciler{
			Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(),
			Recorder: mgr.GetEventRecorder(gitsync.EventReporter),
			Fetcher:  &source.Fetcher{CacheDir: t.TempDir(), Timeout: 10 * time.Second},
			Clients:  clients,
		}
		if mutate != nil {
			mutate(r)
		}
		return r.SetupWithManager(mgr)
	})
	return r
}

// gitRepo starts a Git server with basic auth and a repository on it.
func gitRepo(t *testing.T) (*gitserver.Server, *gitserver.Repo) {
	t.Helper()
	dir := t.TempDir()
	srv, err := gitserver.Start(dir, gitserver.Options{Username: "sync", Password: "s3cret-pass"})
	if err != nil {
		t.Fatalf("start git server: %v", err)
	}
	t.Cleanup(srv.Stop)
	repo, err := gitserver.NewRepo(dir, "config")
	if err != nil {
		t.Fatalf("create repo: %v", err)
	}
	return srv, repo
}

// commit writes files (and removes paths) and commits them.
func commit(t *testing.T, repo *gitserver.Repo, msg string, files map[string]string, remove ...string) string {
	t.Helper()
	if len(remove) > 0 {
		if err := repo.Remove(remove...); err != nil {
			t.Fatalf("remove %v: %v", remove, err)
		}
	}
	if err := repo.WriteFiles(files); err != nil {
		t.Fatalf("write files: %v", err)
	}
	sha, err := repo.Commit(msg)
	if err != nil {
		t.Fatalf("commit %q: %v", msg, err)
	}
	return sha
}

// credentialsSecret creates the basic-auth Secret a GitSync names.
func credentialsSecret(t *testing.T, ns string) {
	t.Helper()
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "git-creds"},
		StringData: map[string]string{"username": "sync", "password": "s3cret-pass"}}
	if err := env.client.Create(context.Background(), sec); err != nil {
		t.Fatalf("create secret: %v", err)
	}
}

// newGitSync creates a GitSync of path in the repository at url.
func newGitSync(t *testing.T, ns, name, url, path string, mutate func(*sluicev1alpha1.GitSync)) *sluicev1alpha1.GitSync {
	t.Helper()
	gs := &sluicev1alpha1.GitSync{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: sluicev1alpha1.GitSyncSpec{
			Source:      sluicev1alpha1.GitSyncSource{RepoURL: url, Path: path, SecretRef: &sluicev1alpha1.LocalObjectReference{Name: "git-creds"}},
			Destination: sluicev1alpha1.GitSyncDestination{Namespace: ns},
			SyncPolicy:  &sluicev1alpha1.SyncPolicy{Automated: &sluicev1alpha1.AutomatedSync{Prune: true}},
			Interval:    "1h",
		},
	}
	if mutate != nil {
		mutate(gs)
	}
	if err := env.client.Create(context.Background(), gs); err != nil {
		t.Fatalf("create gitsync: %v", err)
	}
	return gs
}

func getGitSync(t *testing.T, ns, name string) *sluicev1alpha1.GitSync {
	t.Helper()
	gs := &sluicev1alpha1.GitSync{}
	if err := env.client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, gs); err != nil {
		t.Fatalf("get gitsync: %v", err)
	}
	return gs
}

// waitGitSync polls a GitSync until cond holds.
func waitGitSync(t *testing.T, ns, name string, timeout time.Duration, what string, cond func(*sluicev1alpha1.GitSync) bool) *sluicev1alpha1.GitSync {
	t.Helper()
	var last *sluicev1alpha1.GitSync
	deadline := time.Now().Add(timeout)
	for {
		gs := &sluicev1alpha1.GitSync{}
		if err := env.client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, gs); err == nil {
			last = gs
			if cond(gs) {
				return gs
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for GitSync %s/%s: %s\nstatus: %+v", timeout, ns, name, what, statusOf(last))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func statusOf(gs *sluicev1alpha1.GitSync) any {
	if gs == nil {
		return nil
	}
	return gs.Status
}

// syncedAt reports whether the GitSync synced revision and is Ready.
func syncedAt(revision string) func(*sluicev1alpha1.GitSync) bool {
	return func(gs *sluicev1alpha1.GitSync) bool {
		return gs.Status.LastAppliedRevision == revision && gs.Status.Sync != nil &&
			gs.Status.Sync.Status == sluicev1alpha1.SyncStatusSynced &&
			meta.IsStatusConditionTrue(gs.Status.Conditions, sluicev1alpha1.ConditionReady)
	}
}

// conditionReason reports whether condition typ is False with reason.
func conditionReason(typ, reason string) func(*sluicev1alpha1.GitSync) bool {
	return func(gs *sluicev1alpha1.GitSync) bool {
		c := meta.FindStatusCondition(gs.Status.Conditions, typ)
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == reason
	}
}

// requestSync sets the sync-requested annotation to a new value.
func requestSync(t *testing.T, ns, name string) {
	t.Helper()
	patch := []byte(`{"metadata":{"annotations":{"` + sluicev1alpha1.AnnotationSyncRequested + `":"` + time.Now().Format(time.RFC3339Nano) + `"}}}`)
	if err := env.client.Patch(context.Background(), &sluicev1alpha1.GitSync{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}, rawMerge(patch)); err != nil {
		t.Fatalf("request sync: %v", err)
	}
}
