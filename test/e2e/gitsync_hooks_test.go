package e2e

import (
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

// failingMigrationJobYAML is a PreSync Job that really fails through the Job controller: kwok
// completes every Job pod it runs, so its pod asks for a node label no node has and is never
// scheduled; after activeDeadlineSeconds the Job controller fails the Job (DeadlineExceeded), and
// with backoffLimit 0 there is no second pod.
const failingMigrationJobYAML = `apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  annotations:
    argocd.argoproj.io/hook: PreSync
spec:
  backoffLimit: 0
  activeDeadlineSeconds: 2
  template:
    spec:
      restartPolicy: Never
      nodeSelector:
        e2e.sluice.dev/no-such-node: "true"
      containers:
      - name: migrate
        image: busybox
`

// notifyJobYAML is a SyncFail hook made with generateName and the default delete policy
// (BeforeHookCreation), so it stays once it completed.
const notifyJobYAML = `apiVersion: batch/v1
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
`

// cleanupJobYAML is a SyncFail hook that is deleted once it succeeded.
const cleanupJobYAML = `apiVersion: batch/v1
kind: Job
metadata:
  name: cleanup
  annotations:
    argocd.argoproj.io/hook: SyncFail
    argocd.argoproj.io/hook-delete-policy: HookSucceeded
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: cleanup
        image: busybox
`

// TestGitSyncHookPreSyncJobFailsAndSyncFailHooksRun: a PreSync Job that the Job controller fails
// (DeadlineExceeded) ends the operation with HookFailed naming the Job before any Sync-phase object
// of the same commit is applied; the SyncFail hooks are created, run to completion, and their
// results (and delete policies) reach status.operationState while the operation stays Failed.
func TestGitSyncHookPreSyncJobFailsAndSyncFailHooksRun(t *testing.T) {
	startGitSyncController(t)
	ns := newNamespace(t)
	credentialsSecret(t, ns)
	srv, repo := gitRepo(t)
	commit(t, repo, "migration that cannot run", map[string]string{
		"app/config.yaml":  configMapYAML("settings", ""),
		"app/deploy.yaml":  deploymentYAML("web:1.0"),
		"app/migrate.yaml": failingMigrationJobYAML,
		"app/notify.yaml":  notifyJobYAML,
		"app/cleanup.yaml": cleanupJobYAML,
	})
	newGitSync(t, ns, "app", srv.URL("config"), "app", func(gs *sluicev1alpha1.GitSync) {
		gs.Spec.SyncPolicy.Retry = &sluicev1alpha1.RetryStrategy{Limit: new(int64)}
	})

	// The operation fails with HookFailed, naming the Job and why the Job controller failed it.
	gs := waitGitSync(t, ns, "app", 90*time.Second, "HookFailed", conditionReason(sluicev1alpha1.ConditionSynced, sluicev1alpha1.ReasonHookFailed))
	c := meta.FindStatusCondition(gs.Status.Conditions, sluicev1alpha1.ConditionSynced)
	if !strings.Contains(c.Message, "Job "+ns+"/migrate") {
		t.Errorf("HookFailed message %q does not name the Job %s/migrate", c.Message, ns)
	}
	if !strings.Contains(c.Message, "deadline") {
		t.Errorf("HookFailed message %q does not say the Job exceeded its deadline", c.Message)
	}
	if gs.Status.OperationState == nil || gs.Status.OperationState.Phase != sluicev1alpha1.OperationFailed {
		t.Fatalf("operation = %+v, want Failed", gs.Status.OperationState)
	}
	if !hasResult(gs, "migrate", sluicev1alpha1.ResultHookFailed) {
		t.Errorf("operation resources lack the PreSync hook's failure: %+v", gs.Status.OperationState.Resources)
	}

	// The Job really failed in the cluster, by the Job controller's hand.
	job := &batchv1.Job{}
	eventually(t, 30*time.Second, "Job migrate Failed with DeadlineExceeded", func() (bool, error) {
		if err := getObj(t, ns, "migrate", job); err != nil {
			return false, err
		}
		for _, jc := range job.Status.Conditions {
			if jc.Type == batchv1.JobFailed && jc.Status == corev1.ConditionTrue && jc.Reason == batchv1.JobReasonDeadlineExceeded {
				return true, nil
			}
		}
		return false, nil
	})
	if job.Status.Succeeded != 0 {
		t.Errorf("Job migrate has %d succeeded pods, want 0", job.Status.Succeeded)
	}

	// The SyncFail hook was created and completed.
	notify := &batchv1.Job{}
	eventually(t, 60*time.Second, "the SyncFail hook notify-* completed", func() (bool, error) {
		jobs := &batchv1.JobList{}
		if err := env.client.List(t.Context(), jobs, client.InNamespace(ns)); err != nil {
			return false, err
		}
		for i := range jobs.Items {
			if j := &jobs.Items[i]; strings.HasPrefix(j.Name, "notify-") {
				*notify = *j
				return jobComplete(j), nil
			}
		}
		return false, nil
	})

	// Their results reach status once they finish: the SyncFail hooks are followed after the
	// operation failed, and cleanup's HookSucceeded delete policy is honoured.
	gs = waitGitSync(t, ns, "app", 60*time.Second, "the SyncFail hooks' results in status.operationState", func(gs *sluicev1alpha1.GitSync) bool {
		return hasPhaseResult(gs, sluicev1alpha1.HookSyncFail, "notify-*", sluicev1alpha1.ResultHookSucceeded) &&
			hasPhaseResult(gs, sluicev1alpha1.HookSyncFail, "cleanup", sluicev1alpha1.ResultHookSucceeded)
	})
	if r := phaseResult(gs, sluicev1alpha1.HookSyncFail, "notify-*"); r.LiveName != notify.Name {
		t.Errorf("SyncFail result names %q, want the Job %s", r.LiveName, notify.Name)
	}
	eventually(t, 30*time.Second, "the SyncFail hook cleanup deleted (HookSucceeded)", func() (bool, error) {
		err := getObj(t, ns, "cleanup", &batchv1.Job{})
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	})

	// The operation stays Failed with HookFailed, and with a retry limit of 0 it is Stalled.
	if gs.Status.OperationState.Phase != sluicev1alpha1.OperationFailed || !conditionReason(sluicev1alpha1.ConditionSynced, sluicev1alpha1.ReasonHookFailed)(gs) {
		t.Errorf("after the SyncFail hooks: operation %s, conditions %+v; want Failed with HookFailed", gs.Status.OperationState.Phase, gs.Status.Conditions)
	}
	if !meta.IsStatusConditionTrue(gs.Status.Conditions, sluicev1alpha1.ConditionStalled) {
		t.Errorf("no Stalled condition after the retry limit: %+v", gs.Status.Conditions)
	}

	// Nothing of the Sync phase was applied, then or since.
	if err := getObj(t, ns, "settings", &corev1.ConfigMap{}); !apierrors.IsNotFound(err) {
		t.Errorf("the ConfigMap was applied after a failed PreSync hook (get: %v)", err)
	}
	if err := getObj(t, ns, "web", &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
		t.Errorf("the Deployment was applied after a failed PreSync hook (get: %v)", err)
	}
	if len(gs.Status.Inventory) != 0 {
		t.Errorf("inventory = %v after a failed PreSync hook, want empty", gs.Status.Inventory)
	}
}

// refusedMigrationJobYAML is a PreSync hook the API server refuses (backoffLimit -1 is invalid),
// so the sync fails at once, before any object is applied.
const refusedMigrationJobYAML = `apiVersion: batch/v1
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
`

// TestGitSyncHookRefusedByTheAPIServerStopsTheSync: a PreSync hook the API server refuses (an
// invalid Job) fails the sync before any object is applied, with the API server's reason, and the
// SyncFail hook runs.
func TestGitSyncHookRefusedByTheAPIServerStopsTheSync(t *testing.T) {
	startGitSyncController(t)
	ns := newNamespace(t)
	credentialsSecret(t, ns)
	srv, repo := gitRepo(t)
	commit(t, repo, "bad migration", map[string]string{
		"app/deploy.yaml":  deploymentYAML("web:1.0"),
		"app/migrate.yaml": refusedMigrationJobYAML,
		"app/notify.yaml":  notifyJobYAML,
	})
	newGitSync(t, ns, "app", srv.URL("config"), "app", func(gs *sluicev1alpha1.GitSync) {
		gs.Spec.SyncPolicy.Retry = &sluicev1alpha1.RetryStrategy{Limit: new(int64)}
	})
	gs := waitGitSync(t, ns, "app", 60*time.Second, "HookFailed", conditionReason(sluicev1alpha1.ConditionSynced, sluicev1alpha1.ReasonHookFailed))
	if c := meta.FindStatusCondition(gs.Status.Conditions, sluicev1alpha1.ConditionSynced); !strings.Contains(c.Message, "migrate") || !strings.Contains(c.Message, "backoffLimit") {
		t.Errorf("HookFailed message %q does not name the hook and the refused field", c.Message)
	}
	if gs.Status.OperationState.Phase != sluicev1alpha1.OperationFailed {
		t.Errorf("operation phase = %s, want Failed", gs.Status.OperationState.Phase)
	}
	if err := getObj(t, ns, "web", &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
		t.Errorf("the Deployment was applied after a failed PreSync hook (get: %v)", err)
	}
	eventually(t, 60*time.Second, "the SyncFail hook's Job completed", func() (bool, error) {
		jobs := &batchv1.JobList{}
		if err := env.client.List(t.Context(), jobs, client.InNamespace(ns)); err != nil {
			return false, err
		}
		for i := range jobs.Items {
			if strings.HasPrefix(jobs.Items[i].Name, "notify-") {
				return jobComplete(&jobs.Items[i]), nil
			}
		}
		return false, nil
	})
	// With a retry limit of 0 the failed revision is not tried again: Stalled says so.
	if !meta.IsStatusConditionTrue(gs.Status.Conditions, sluicev1alpha1.ConditionStalled) {
		t.Errorf("no Stalled condition after the retry limit: %+v", gs.Status.Conditions)
	}
}

func jobComplete(j *batchv1.Job) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// phaseResult is the last operation's result for the object of phase whose id names name, or an
// empty result.
func phaseResult(gs *sluicev1alpha1.GitSync, phase, name string) sluicev1alpha1.ResourceResult {
	if gs.Status.OperationState != nil {
		for _, r := range gs.Status.OperationState.Resources {
			if r.Phase == phase && strings.Contains(r.ID, "_"+name+"_") {
				return r
			}
		}
	}
	return sluicev1alpha1.ResourceResult{}
}

func hasPhaseResult(gs *sluicev1alpha1.GitSync, phase, name, result string) bool {
	return phaseResult(gs, phase, name).Result == result
}

// TestGitSyncRetryWaitsForTheSyncFailHooks: the automatic retry of a failed sync starts only once
// the failed attempt's SyncFail hooks have finished and their results are in status (as Argo CD
// keeps the operation Running until they end), although its back-off (1 s) is shorter than the
// hook takes.
func TestGitSyncRetryWaitsForTheSyncFailHooks(t *testing.T) {
	startGitSyncController(t)
	ns := newNamespace(t)
	credentialsSecret(t, ns)
	srv, repo := gitRepo(t)
	commit(t, repo, "bad migration", map[string]string{
		"app/deploy.yaml":  deploymentYAML("web:1.0"),
		"app/migrate.yaml": refusedMigrationJobYAML,
		"app/notify.yaml":  notifyJobYAML,
	})
	one := int64(1)
	newGitSync(t, ns, "app", srv.URL("config"), "app", func(gs *sluicev1alpha1.GitSync) {
		gs.Spec.SyncPolicy.Retry = &sluicev1alpha1.RetryStrategy{Limit: &one, Backoff: &sluicev1alpha1.Backoff{Duration: "1s"}}
	})
	// The first attempt fails; its SyncFail hook's result reaches status while it is still the
	// first attempt (retryCount 0): the retry did not start before the hook ended.
	sawFirstResults := false
	waitGitSync(t, ns, "app", 90*time.Second, "the retry", func(gs *sluicev1alpha1.GitSync) bool {
		op := gs.Status.OperationState
		if op == nil {
			return false
		}
		if op.RetryCount == 0 && op.Phase == sluicev1alpha1.OperationFailed && hasPhaseResult(gs, sluicev1alpha1.HookSyncFail, "notify-*", sluicev1alpha1.ResultHookSucceeded) {
			sawFirstResults = true
		}
		return op.RetryCount == 1
	})
	if !sawFirstResults {
		t.Errorf("the retry started before the first attempt's SyncFail hook had finished and been recorded")
	}
	// The retry fails the same way and, with limit 1, the GitSync is Stalled once its own SyncFail
	// hook has run.
	waitGitSync(t, ns, "app", 90*time.Second, "Stalled after the retry", func(gs *sluicev1alpha1.GitSync) bool {
		op := gs.Status.OperationState
		return op.RetryCount == 1 && op.Phase == sluicev1alpha1.OperationFailed &&
			meta.IsStatusConditionTrue(gs.Status.Conditions, sluicev1alpha1.ConditionStalled)
	})
}
