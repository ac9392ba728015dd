package render

import (
	"bytes"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	sluicev1alpha1 "github.com/sluice-dev/sluice/api/sluice/v1alpha1"
	"github.com/sluice-dev/sluice/sync/apply"
)

const rev1, rev2 = "4f1c2a9e8b7d6c5f4e3d2c1b0a9f8e7d6c5b4a39", "9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a07"

func gitSync(name string, status sluicev1alpha1.GitSyncStatus) *sluicev1alpha1.GitSync {
	return &sluicev1alpha1.GitSync{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", Generation: 2, CreationTimestamp: ago(72 * time.Hour)},
		Spec: sluicev1alpha1.GitSyncSpec{
			Source:      sluicev1alpha1.GitSyncSource{RepoURL: "https://git.example.com/shop/config.git", Path: "apps/web", TargetRevision: "main"},
			Destination: sluicev1alpha1.GitSyncDestination{Namespace: "shop"},
		},
		Status: status,
	}
}

func condition(typ string, st metav1.ConditionStatus, reason, msg string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: st, Reason: reason, Message: msg, ObservedGeneration: 2, LastTransitionTime: ago(time.Minute)}
}

func syncScenarios() map[string]*sluicev1alpha1.GitSync {
	history := []sluicev1alpha1.HistoryEntry{
		{Revision: rev2, DeployedAt: ago(5 * time.Minute), Result: sluicev1alpha1.OperationSucceeded},
		{Revision: rev1, DeployedAt: ago(26 * time.Hour), Result: sluicev1alpha1.OperationSucceeded},
	}
	return map[string]*sluicev1alpha1.GitSync{
		"succeeded": gitSync("web", sluicev1alpha1.GitSyncStatus{
			Conditions: []metav1.Condition{condition(sluicev1alpha1.ConditionReady, metav1.ConditionTrue, sluicev1alpha1.ReasonSucceeded, "synced and healthy")},
			Sync:       &sluicev1alpha1.SyncStatus{Status: sluicev1alpha1.SyncStatusSynced, Revision: rev2, ShortRevision: rev2[:7], CommitMessage: "web: bump the image to 2.0"},
			Health:     &sluicev1alpha1.HealthStatus{Status: sluicev1alpha1.HealthHealthy},
			OperationState: &sluicev1alpha1.OperationState{
				Phase: sluicev1alpha1.OperationSucceeded, Revision: rev2, Message: "successfully synced (all tasks run)",
				StartedAt: ptrTime(ago(5*time.Minute + 12*time.Second)), FinishedAt: ptrTime(ago(5 * time.Minute)),
				Resources: []sluicev1alpha1.ResourceResult{
					{ID: "shop_settings__ConfigMap", Phase: "Sync", Result: sluicev1alpha1.ResultSynced, Message: "configured"},
					{ID: "shop_migrate_batch_Job", Phase: "PreSync", Result: sluicev1alpha1.ResultHookSucceeded, LiveName: "migrate-x7k2p", Message: "job completed"},
					{ID: "shop_web_apps_Deployment", Phase: "Sync", Wave: 1, Result: sluicev1alpha1.ResultSynced},
					{ID: "shop_web__Service", Phase: "Sync", Result: sluicev1alpha1.ResultSynced},
					{ID: "shop_old-settings__ConfigMap", Phase: "Sync", Result: sluicev1alpha1.ResultPruned, Message: "pruned"},
					{ID: "monitoring_web_monitoring.coreos.com_ServiceMonitor", Phase: "Sync", Wave: 2, Result: sluicev1alpha1.ResultSynced},
				},
			},
			History: history,
		}),
		"failed-hook": gitSync("web", sluicev1alpha1.GitSyncStatus{
			Conditions: []metav1.Condition{
				condition(sluicev1alpha1.ConditionReady, metav1.ConditionFalse, sluicev1alpha1.ReasonHookFailed,
					"PreSync hook Job shop/migrate failed: BackoffLimitExceeded: Job has reached the specified backoff limit"),
			},
			Sync:   &sluicev1alpha1.SyncStatus{Status: sluicev1alpha1.SyncStatusOutOfSync, Revision: rev2, ShortRevision: rev2[:7], CommitMessage: "db: add the orders index"},
			Health: &sluicev1alpha1.HealthStatus{Status: sluicev1alpha1.HealthHealthy},
			OperationState: &sluicev1alpha1.OperationState{
				Phase: sluicev1alpha1.OperationFailed, Revision: rev2, RetryCount: 1,
				Message:   "PreSync hook Job shop/migrate failed: BackoffLimitExceeded: Job has reached the specified backoff limit",
				StartedAt: ptrTime(ago(2 * time.Minute)), FinishedAt: ptrTime(ago(time.Minute + 20*time.Second)),
				Resources: []sluicev1alpha1.ResourceResult{
					{ID: "shop_migrate_batch_Job", Phase: "PreSync", Result: sluicev1alpha1.ResultHookFailed,
						Message: "BackoffLimitExceeded: Job has reached the specified backoff limit"},
					{ID: "shop_notify-failure_batch_Job", Phase: "SyncFail", Result: sluicev1alpha1.ResultHookRunning, LiveName: "notify-failure-4hq9z"},
				},
			},
			History: history[1:],
		}),
		"out-of-sync": gitSync("web", sluicev1alpha1.GitSyncStatus{
			Conditions: []metav1.Condition{condition(sluicev1alpha1.ConditionReady, metav1.ConditionFalse, sluicev1alpha1.ReasonOutOfSync, "2 object(s) differ from Git")},
			Sync: &sluicev1alpha1.SyncStatus{Status: sluicev1alpha1.SyncStatusOutOfSync, Revision: rev2, ShortRevision: rev2[:7], CommitMessage: "web: bump the image to 2.0",
				OutOfSync: []string{"ConfigMap shop/old-settings: left Git", "Deployment shop/web: spec.replicas, spec.template.spec.containers[0].image"}},
			Health: &sluicev1alpha1.HealthStatus{Status: sluicev1alpha1.HealthProgressing, Message: "Deployment shop/web: waiting for 2 of 3 replicas to be available"},
			OperationState: &sluicev1alpha1.OperationState{
				Phase: sluicev1alpha1.OperationSucceeded, Revision: rev1, Message: "successfully synced (all tasks run)",
				StartedAt: ptrTime(ago(26 * time.Hour)), FinishedAt: ptrTime(ago(26*time.Hour - 850*time.Millisecond)),
				Resources: []sluicev1alpha1.ResourceResult{
					{ID: "shop_web_apps_Deployment", Phase: "Sync", Result: sluicev1alpha1.ResultSynced},
				},
			},
			History: history[1:],
		}),
	}
}

func TestGitSyncGolden(t *testing.T) {
	for name, gs := range syncScenarios() {
		for _, style := range []struct {
			suffix string
			style  Style
		}{{"", Style{}}, {".tty", Style{Icons: true}}} {
			t.Run(name+style.suffix, func(t *testing.T) {
				var buf bytes.Buffer
				GitSync(&buf, gs, now, style.style)
				golden(t, "sync-"+name+style.suffix+".golden", buf.String())
			})
		}
	}
}

func TestSyncListGolden(t *testing.T) {
	s := syncScenarios()
	other := gitSync("platform", sluicev1alpha1.GitSyncStatus{})
	other.Namespace, other.Spec.Source.Path = "platform", ""
	items := []sluicev1alpha1.GitSync{*s["succeeded"], *s["failed-hook"], *s["out-of-sync"], *other}
	items[1].Name, items[2].Name = "db", "web-canary"
	items[1].Spec.Source.Path = "apps/db"
	var buf bytes.Buffer
	SyncList(&buf, items[:3], false, now, Style{})
	golden(t, "list-syncs.golden", buf.String())
	buf.Reset()
	SyncList(&buf, items, true, now, Style{Icons: true})
	golden(t, "list-syncs-all-namespaces.tty.golden", buf.String())
	buf.Reset()
	SyncList(&buf, nil, false, now, Style{})
	if got := buf.String(); got != "No GitSyncs found.\n" {
		t.Fatalf("empty list: %q", got)
	}
}

func toUnstructured(t *testing.T, obj runtime.Object) *unstructured.Unstructured {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: m}
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "status")
	return u
}

// TestDiffGolden renders the controller's diff of a Deployment whose image and replicas Git
// changed, plain and in colour.
func TestDiffGolden(t *testing.T) {
	deploy := func(image string, replicas int32) *appsv1.Deployment {
		return &appsv1.Deployment{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", Labels: map[string]string{"app": "web"}},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To(replicas),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: image}}},
				},
			},
		}
	}
	live := toUnstructured(t, deploy("ghcr.io/shop/web:1.0", 3))
	live.SetUID("3c5e0a1d")
	live.SetResourceVersion("4711")
	desired := toUnstructured(t, deploy("ghcr.io/shop/web:2.0", 4))
	text, err := (&apply.Comparer{}).Diff(live, desired)
	if err != nil {
		t.Fatal(err)
	}
	var plainOut, colored bytes.Buffer
	if err := Diff(&plainOut, text, Style{}); err != nil {
		t.Fatal(err)
	}
	goldenWide(t, "diff-out-of-sync.golden", plainOut.String())
	if err := Diff(&colored, text, Style{Icons: true, Color: true}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{ansiRed + "-  replicas: 3" + ansiReset, ansiGreen + "+  replicas: 4" + ansiReset, ansiBold + "--- live/Deployment shop/web" + ansiReset} {
		if !strings.Contains(colored.String(), want) {
			t.Errorf("coloured diff lacks %q:\n%q", want, colored.String())
		}
	}
	if stripANSI(colored.String()) != plainOut.String() {
		t.Fatalf("colour changed more than the escape codes:\n%s", colored.String())
	}
}
