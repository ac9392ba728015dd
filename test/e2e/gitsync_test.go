package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sluicev1alpha1 "github.com/sluice-dev/sluice/api/sluice/v1alpha1"
)

func configMapYAML(name, extra string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n" + extra + "data:\n  key: value\n"
}

func deploymentYAML(image string) string {
	return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    argocd.argoproj.io/sync-wave: "1"
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: ` + image + "\n"
}

const migrationJobYAML = `apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  annotations:
    argocd.argoproj.io/hook: PreSync
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: migrate
        image: busybox
`

func getObj(t *testing.T, ns, name string, obj client.Object) error {
	t.Helper()
	return env.client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, obj)
}

// TestGitSyncLifecycle walks one config repository through the cases users hit first: the first
// sync in wave order with a PreSync hook, an image bump on the interval and on sync-requested, a
// file removed and pruned (and one kept by Prune=false), broken YAML, an empty path, and the Git
// server going away and coming back.
func TestGitSyncLifecycle(t *testing.T) {
	startGitSyncController(t)
	ns := newNamespace(t)
	credentialsSecret(t, ns)
	srv, repo := gitRepo(t)
	rev1 := commit(t, repo, "first", map[string]string{
		"app/config.yaml":  configMapYAML("settings", ""),
		"app/keep.yaml":    configMapYAML("keep", "  annotations:\n    argocd.argoproj.io/sync-options: Prune=false\n"),
		"app/extra.yaml":   configMapYAML("extra", ""),
		"app/deploy.yaml":  deploymentYAML("web:1.0"),
		"app/migrate.yaml": migrationJobYAML,
		"app/README.md":    "not a manifest",
	})
	newGitSync(t, ns, "app", srv.URL("config"), "app", func(gs *sluicev1alpha1.GitSync) { gs.Spec.Interval = "2s" })

	gs := waitGitSync(t, ns, "app", 90*time.Second, "first sync", syncedAt(rev1))
	if gs.Generation != 1 || gs.Status.OperationState.Generation != 1 {
		// Adding the finalizer must not touch the spec (an Update of the typed object added
		// render: {}, a second generation, and a second operation meeting the first's hooks).
		t.Errorf("generation %d (operation at %d) after the first sync of an unchanged spec, want 1", gs.Generation, gs.Status.OperationState.Generation)
	}
	if gs.Status.Health == nil || gs.Status.Health.Status != sluicev1alpha1.HealthHealthy {
		t.Errorf("health after the first sync = %+v, want Healthy", gs.Status.Health)
	}
	if len(gs.Status.Inventory) != 4 {
		t.Errorf("inventory = %v, want the 4 non-hook objects", gs.Status.Inventory)
	}
	job := &batchv1.Job{}
	if err := getObj(t, ns, "migrate", job); err != nil {
		t.Fatalf("PreSync Job: %v", err)
	}
	dep := &appsv1.Deployment{}
	if err := getObj(t, ns, "web", dep); err != nil {
		t.Fatalf("Deployment: %v", err)
	}
	if job.Status.CompletionTime == nil || dep.CreationTimestamp.Before(job.Status.CompletionTime) {
		t.Errorf("the Deployment (created %v) did not wait for the PreSync Job (completed %v)", dep.CreationTimestamp, job.Status.CompletionTime)
	}
	if dep.Labels[sluicev1alpha1.LabelGitSyncName] != "app" || dep.Labels[sluicev1alpha1.LabelGitSyncNamespace] != ns {
		t.Errorf("Deployment labels = %v, want the ownership labels", dep.Labels)
	}
	if hasResult(gs, "migrate", sluicev1alpha1.ResultHookSucceeded) == false {
		t.Errorf("operation resources lack the hook's success: %+v", gs.Status.OperationState.Resources)
	}

	// A pushed image bump lands on the next interval, with nobody asking (sync-requested is
	// covered by TestGitSyncSharedResourceAndDeletion, whose interval is an hour).
	rev2 := commit(t, repo, "bump", map[string]string{"app/deploy.yaml": deploymentYAML("web:2.0")})
	waitGitSync(t, ns, "app", 60*time.Second, "sync of the image bump on the interval", syncedAt(rev2))
	if err := getObj(t, ns, "web", dep); err != nil || dep.Spec.Template.Spec.Containers[0].Image != "web:2.0" {
		t.Fatalf("Deployment image = %v (err %v), want web:2.0", dep.Spec.Template.Spec.Containers, err)
	}

	// Removed files: extra is pruned, keep is protected.
	rev3 := commit(t, repo, "remove", nil, "app/extra.yaml", "app/keep.yaml")
	requestSync(t, ns, "app")
	gs = waitGitSync(t, ns, "app", 60*time.Second, "prune", func(gs *sluicev1alpha1.GitSync) bool {
		return gs.Status.LastAppliedRevision == rev3
	})
	if err := getObj(t, ns, "extra", &corev1.ConfigMap{}); !apierrors.IsNotFound(err) {
		t.Errorf("extra was not pruned (get: %v)", err)
	}
	if err := getObj(t, ns, "keep", &corev1.ConfigMap{}); err != nil {
		t.Errorf("keep (Prune=false) is gone: %v", err)
	}
	if !hasResult(gs, "keep", sluicev1alpha1.ResultPruneSkipped) || !hasResult(gs, "extra", sluicev1alpha1.ResultPruned) {
		t.Errorf("operation resources = %+v, want extra Pruned and keep PruneSkipped", gs.Status.OperationState.Resources)
	}
	// As in Argo CD, an object kept by Prune=false leaves the GitSync OutOfSync and says why.
	if gs.Status.Sync.Status != sluicev1alpha1.SyncStatusOutOfSync || !strings.Contains(strings.Join(gs.Status.Sync.OutOfSync, ";"), "keep: left Git") {
		t.Errorf("sync = %s %v, want OutOfSync naming keep", gs.Status.Sync.Status, gs.Status.Sync.OutOfSync)
	}

	// Broken YAML: nothing changes, the condition names the file.
	commit(t, repo, "broken", map[string]string{"app/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  key: [unclosed\n"})
	requestSync(t, ns, "app")
	gs = waitGitSync(t, ns, "app", 60*time.Second, "RenderFailed", conditionReason(sluicev1alpha1.ConditionReady, sluicev1alpha1.ReasonRenderFailed))
	if c := meta.FindStatusCondition(gs.Status.Conditions, sluicev1alpha1.ConditionReady); !strings.Contains(c.Message, "app/config.yaml") {
		t.Errorf("RenderFailed message %q does not name the file", c.Message)
	}
	if gs.Status.LastAppliedRevision != rev3 {
		t.Errorf("lastAppliedRevision moved to %s on a render failure", gs.Status.LastAppliedRevision)
	}
	if err := getObj(t, ns, "settings", &corev1.ConfigMap{}); err != nil {
		t.Errorf("settings is gone after a render failure: %v", err)
	}

	// An empty path prunes nothing.
	commit(t, repo, "empty", map[string]string{"app/README.md": "nothing here"}, "app/config.yaml", "app/deploy.yaml", "app/migrate.yaml")
	requestSync(t, ns, "app")
	waitGitSync(t, ns, "app", 60*time.Second, "EmptyRender", conditionReason(sluicev1alpha1.ConditionReady, sluicev1alpha1.ReasonEmptyRender))
	for _, name := range []string{"settings"} {
		if err := getObj(t, ns, name, &corev1.ConfigMap{}); err != nil {
			t.Errorf("%s is gone after an empty render: %v", name, err)
		}
	}
	if err := getObj(t, ns, "web", &appsv1.Deployment{}); err != nil {
		t.Errorf("the Deployment is gone after an empty render: %v", err)
	}

	// Git down: FetchFailed, the cluster and the last applied revision stay; back up: it recovers.
	rev5 := commit(t, repo, "restore", map[string]string{"app/config.yaml": configMapYAML("settings", ""), "app/deploy.yaml": deploymentYAML("web:2.0")})
	srv.Stop()
	requestSync(t, ns, "app")
	gs = waitGitSync(t, ns, "app", 60*time.Second, "FetchFailed", conditionReason(sluicev1alpha1.ConditionReady, sluicev1alpha1.ReasonFetchFailed))
	if gs.Status.LastAppliedRevision != rev3 {
		t.Errorf("lastAppliedRevision = %s after a failed fetch, want %s", gs.Status.LastAppliedRevision, rev3)
	}
	if err := getObj(t, ns, "settings", &corev1.ConfigMap{}); err != nil {
		t.Errorf("settings is gone after a failed fetch: %v", err)
	}
	if c := meta.FindStatusCondition(gs.Status.Conditions, sluicev1alpha1.ConditionReady); strings.Contains(c.Message, "s3cret-pass") {
		t.Errorf("the FetchFailed message leaks the password: %q", c.Message)
	}
	if err := srv.Restart(); err != nil {
		t.Fatalf("restart git server: %v", err)
	}
	waitGitSync(t, ns, "app", 90*time.Second, "recovery after Git is back", func(gs *sluicev1alpha1.GitSync) bool {
		c := meta.FindStatusCondition(gs.Status.Conditions, sluicev1alpha1.ConditionReady)
		return gs.Status.LastAppliedRevision == rev5 && c != nil && c.Reason != sluicev1alpha1.ReasonFetchFailed
	})
}

// hasResult reports whether the last operation recorded result for an object named name.
func hasResult(gs *sluicev1alpha1.GitSync, name, result string) bool {
	if gs.Status.OperationState == nil {
		return false
	}
	for _, r := range gs.Status.OperationState.Resources {
		if strings.Contains(r.ID, "_"+name+"_") && r.Result == result {
			return true
		}
	}
	return false
}
