package e2e

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"

	"sigs.k8s.io/controller-runtime/pkg/client"

	sluicev1alpha1 "github.com/sluice-dev/sluice/api/sluice/v1alpha1"
)

// TestGitSyncFailedPreSyncHookStopsTheSyncAndRunsSyncFail: a PreSync hook the API server refuses
// (kwok completes every Job pod, so a refused hook is the failure a real cluster can show here)
// fails the sync before any object is applied, and the SyncFail hook runs.
func TestGitSyncFailedPreSyncHookStopsTheSyncAndRunsSyncFail(t *testing.T) {
	startGitSyncController(t)
	ns := newNamespace(t)
	credentialsSecret(t, ns)
	srv, repo := gitRepo(t)
	commit(t, repo, "bad migration", map[string]string{
		"app/deploy.yaml": deploymentYAML("web:1.0"),
		"app/migrate.yaml": `apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  annotations:
    argocd.argoproj.io/hook: PreSync
spec:
  backoffLimit: -1
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: migrate
        image: busybox
`,
		"app/notify.yaml": `apiVersion: batch/v1
kind: Job
metadata:
  generateName: notify-
  annotations:
    argocd.argoproj.io/hook: SyncFail
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: notify
        image: busybox
`,
	})
	newGitSync(t, ns, "app", srv.URL("config"), "app", func(gs *sluicev1alpha1.GitSync) {
		gs.Spec.SyncPolicy.Retry = &sluicev1alpha1.RetryStrategy{Limit: new(int64)}
	})
	gs := waitGitSync(t, ns, "app", 60*time.Second, "HookFailed", conditionReason(sluicev1alpha1.ConditionSynced, sluicev1alpha1.ReasonHookFailed))
	if c := meta.FindStatusCondition(gs.Status.Conditions, sluicev1alpha1.ConditionSynced); !strings.Contains(c.Message, "migrate") {
		t.Errorf("HookFailed message %q does not name the hook", c.Message)
	}
	if gs.Status.OperationState.Phase != sluicev1alpha1.OperationFailed {
		t.Errorf("operation phase = %s, want Failed", gs.Status.OperationState.Phase)
	}
	if err := getObj(t, ns, "web", &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
		t.Errorf("the Deployment was applied after a failed PreSync hook (get: %v)", err)
	}
	jobs := &batchv1.JobList{}
	eventually(t, 30*time.Second, "the SyncFail hook's Job", func() (bool, error) {
		if err := env.client.List(t.Context(), jobs, client.InNamespace(ns)); err != nil {
			return false, err
		}
		for _, j := range jobs.Items {
			if strings.HasPrefix(j.Name, "notify-") {
				return true, nil
			}
		}
		return false, nil
	})
	// With a retry limit of 0 the failed revision is not tried again: Stalled says so.
	if !meta.IsStatusConditionTrue(gs.Status.Conditions, sluicev1alpha1.ConditionStalled) {
		t.Errorf("no Stalled condition after the retry limit: %+v", gs.Status.Conditions)
	}
}
