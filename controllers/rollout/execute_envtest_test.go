package rollout_test

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// TestFailedSelectorStopsRoutesAndScaleDowns: a routed canary with dynamicStableScale, whose
// canary Service the API server refuses to re-point. The plan that moves the canary Service to the
// canary pods also moves the route to 50/50, and the next ones shrink the stable ReplicaSet with
// the traffic it gave up. Execution stops at the failed Service patch: the route keeps 100/0, the
// stable ReplicaSet keeps every replica, no event claims a switch, and the failure is in the
// Progressing condition and a Warning event, retried (at most 10 s apart) until the policy is
// lifted, when the update carries on.
func TestFailedSelectorStopsRoutesAndScaleDowns(t *testing.T) {
	ctx := context.Background()
	ns := testNamespace(t, "phases")
	fakeReplicaSets(t, ns)
	fakeGateway(t, ns, "web")
	createService(t, ns, "web-stable", "web")
	createService(t, ns, "web-canary", "web")
	createHTTPRoute(t, ns, "web")

	ro := newRollout("web")
	ro.Namespace = ns
	ro.Spec.Replicas = ptr.To[int32](2)
	c := ro.Spec.Strategy.Canary
	c.Steps = []v1alpha1.CanaryStep{{SetWeight: ptr.To[int32](50)}, {Pause: &v1alpha1.RolloutPause{}}}
	c.StableService, c.CanaryService = "web-stable", "web-canary"
	c.DynamicStableScale = true
	c.TrafficRouting = &v1alpha1.RolloutTrafficRouting{Plugins: map[string]apiextensionsv1.JSON{
		v1alpha1.GatewayAPIPluginName: {Raw: []byte(`{"httpRoute":"web"}`)},
	}}
	if err := k8s.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	var stable string
	eventually(t, "the first revision Healthy behind both Services", func() bool {
		cur := getRollout(t, ns, "web")
		stable = cur.Status.StableRS
		return cur.Status.Phase == v1alpha1.RolloutPhaseHealthy && stable != "" &&
			serviceHash(t, ns, "web-canary") == stable && serviceHash(t, ns, "web-stable") == stable
	})

	// From now on the canary Service's selector cannot change.
	const frozen = `object.metadata.name != "web-canary" || object.spec.selector == oldObject.spec.selector`
	lift := denyUpdates(t, ns, "", "services", frozen, func() error {
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web-canary"}}
		return k8s.Patch(ctx, svc, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"selector":{"probe":"x"}}}`)), client.DryRunAll)
	})

	cur := getRollout(t, ns, "web")
	cur.Spec.Template.Spec.Containers[0].Image = "app:2"
	if err := k8s.Update(ctx, cur); err != nil {
		t.Fatal(err)
	}
	var canary string
	eventually(t, "the refused Service patch in the Progressing condition, and retried", func() bool {
		cur := getRollout(t, ns, "web")
		canary = cur.Status.CurrentPodHash
		msg := progressing(cur).Message
		failed := strings.Contains(msg, "last action failed: switch Service selectors: point Service web-canary") &&
			strings.Contains(cur.Status.Message, "last action failed:")
		var retried bool
		for note, n := range warnings(t, ns, "web", "ReconcileError") {
			retried = retried || (strings.Contains(note, "web-canary") && n >= 2)
		}
		return failed && retried
	})
	// Whatever the plans asked for after the Service (weight 50 in status, the stable side shrunk
	// to match), no later phase ran: the traffic and the stable capacity are where they were.
	if w := getRollout(t, ns, "web").Status.Canary.Weights; w == nil || w.Canary.Weight != 50 {
		t.Fatalf("status weights %+v: want the plan's canary weight 50 (asked, not carried out)", w)
	}
	if got := routeWeights(t, ns, "web"); got != "100/0" {
		t.Fatalf("route weights %s while the canary Service still selects the stable pods; want 100/0", got)
	}
	if n := ptr.Deref(replicaSetByHash(t, ns, stable).Spec.Replicas, 1); n != 2 {
		t.Fatalf("stable ReplicaSet scaled to %d while all traffic is still on it; want 2", n)
	}
	if h := serviceHash(t, ns, "web-canary"); h != stable {
		t.Fatalf("canary Service selects %s; the policy should have kept %s", h, stable)
	}
	for _, note := range notes(t, ns, "web", "SwitchService") {
		if strings.Contains(note, "web-canary") && strings.Contains(note, canary) {
			t.Fatalf("event %q claims a switch the API server refused", note)
		}
	}

	lift()
	eventually(t, "the update to carry on once the Service can move", func() bool {
		cur := getRollout(t, ns, "web")
		return cur.Status.Phase == v1alpha1.RolloutPhasePaused && serviceHash(t, ns, "web-canary") == canary &&
			routeWeights(t, ns, "web") == "50/50" && ptr.Deref(replicaSetByHash(t, ns, stable).Spec.Replicas, 1) == 1
	})
	cur = getRollout(t, ns, "web")
	if msg := progressing(cur).Message + cur.Status.Message; strings.Contains(msg, "last action failed") {
		t.Fatalf("the failure is still reported after a successful execution: %q", msg)
	}
	var switched bool
	for _, note := range notes(t, ns, "web", "SwitchService") {
		switched = switched || (strings.Contains(note, "web-canary") && strings.Contains(note, canary))
	}
	if !switched {
		t.Fatalf("no SwitchService event for the canary Service's switch to %s", canary)
	}
}

// TestSkipCurrentStepPausesAtTheNextPause: Argo CD's skip-current-step action, at step 1 of
// [setWeight 25, pause {}, setWeight 50, pause 10s], patches the status with
// `{currentStepIndex: 2, pauseConditions: null}`. The rollout runs setWeight 50 and then pauses at
// step 3 for its 10 s: the controllerPause left from step 1 is not a promotion of step 3.
func TestSkipCurrentStepPausesAtTheNextPause(t *testing.T) {
	ctx := context.Background()
	ns := testNamespace(t, "skip-step")
	fakeReplicaSets(t, ns)
	ro := newRollout("web")
	ro.Namespace = ns
	ro.Spec.Replicas = ptr.To[int32](4)
	ten := intstr.FromString("10s")
	ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{
		{SetWeight: ptr.To[int32](25)}, {Pause: &v1alpha1.RolloutPause{}},
		{SetWeight: ptr.To[int32](50)}, {Pause: &v1alpha1.RolloutPause{Duration: &ten}},
	}
	if err := k8s.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Healthy", func() bool { return getRollout(t, ns, "web").Status.Phase == v1alpha1.RolloutPhaseHealthy })
	cur := getRollout(t, ns, "web")
	cur.Spec.Template.Spec.Containers[0].Image = "app:2"
	if err := k8s.Update(ctx, cur); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the pause at step 1 held by the controller", func() bool {
		cur := getRollout(t, ns, "web")
		return cur.Status.Phase == v1alpha1.RolloutPhasePaused && ptr.Deref(cur.Status.CurrentStepIndex, -1) == 1 && cur.Status.ControllerPause
	})

	// The exact patch Argo CD's skip-current-step action sends.
	patch := []byte(`{"status":{"currentStepIndex":2,"pauseConditions":null}}`)
	if err := k8s.Status().Patch(ctx, getRollout(t, ns, "web"), client.RawPatch(types.MergePatchType, patch)); err != nil {
		t.Fatal(err)
	}
	var pausedSince time.Time
	eventually(t, "the pause at step 3", func() bool {
		cur := getRollout(t, ns, "web")
		if ptr.Deref(cur.Status.CurrentStepIndex, -1) > 3 || cur.Status.Phase == v1alpha1.RolloutPhaseHealthy {
			t.Fatalf("the rollout went past step 3 without pausing: step %v phase %s", ptr.Deref(cur.Status.CurrentStepIndex, -1), cur.Status.Phase)
		}
		for _, pc := range cur.Status.PauseConditions {
			if pc.Reason == v1alpha1.PauseReasonCanaryPauseStep && ptr.Deref(cur.Status.CurrentStepIndex, -1) == 3 {
				pausedSince = pc.StartTime.Time
				return cur.Status.Phase == v1alpha1.RolloutPhasePaused
			}
		}
		return false
	})
	eventually(t, "the update to finish after the 10 s pause", func() bool {
		cur := getRollout(t, ns, "web")
		if ptr.Deref(cur.Status.CurrentStepIndex, -1) == 4 {
			if elapsed := time.Since(pausedSince); elapsed < 10*time.Second {
				t.Fatalf("step 3's 10 s pause ended after %v", elapsed)
			}
		}
		return cur.Status.Phase == v1alpha1.RolloutPhaseHealthy && cur.Status.StableRS == cur.Status.CurrentPodHash
	})
}

// TestRefusedReplicaSetRunsIntoTheDeadline: a ReplicaSet the API server rejects (an invalid
// container name) is planned again on every retry; the Rollout is Progressing=False with reason
// ReplicaSetCreateError and the API server's message (as Argo Rollouts reports it), its status
// names no ReplicaSet that does not exist, and the retries are not progress: it goes Degraded at
// its progress deadline instead of Progressing forever.
func TestRefusedReplicaSetRunsIntoTheDeadline(t *testing.T) {
	ctx := context.Background()
	ns := testNamespace(t, "refused-rs")
	ro := newRollout("web")
	ro.Namespace = ns
	ro.Spec.ProgressDeadlineSeconds = ptr.To[int32](5)
	ro.Spec.Template.Spec.Containers[0].Name = "Bad_Name"
	if err := k8s.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	created := time.Now()
	var cur *v1alpha1.Rollout
	eventually(t, "Progressing=False with reason ReplicaSetCreateError and the API server's message", func() bool {
		cur = getRollout(t, ns, "web")
		c := progressing(cur)
		return c != nil && c.Status == corev1.ConditionFalse && c.Reason == "ReplicaSetCreateError" &&
			strings.Contains(c.Message, `Failed to create new replica set "web-`) && strings.Contains(c.Message, "Bad_Name") &&
			strings.Contains(c.Message, "is invalid")
	})
	if cur.Status.Phase != v1alpha1.RolloutPhaseProgressing || !strings.HasPrefix(cur.Status.Message, "ReplicaSetCreateError: ") {
		t.Fatalf("phase %s %q, want Progressing with the create error", cur.Status.Phase, cur.Status.Message)
	}
	var rss appsv1.ReplicaSetList
	if err := k8s.List(ctx, &rss, client.InNamespace(ns)); err != nil || len(rss.Items) != 0 {
		t.Fatalf("ReplicaSets: %v, %v", len(rss.Items), err)
	}
	if cur.Status.StableRS != "" {
		t.Fatalf("status.stableRS %q names a ReplicaSet that does not exist", cur.Status.StableRS)
	}
	eventually(t, "a ReplicaSetCreateError Warning event", func() bool {
		return len(warnings(t, ns, "web", "ReplicaSetCreateError")) > 0
	})
	eventually(t, "ProgressDeadlineExceeded", func() bool {
		cur = getRollout(t, ns, "web")
		return cur.Status.Phase == v1alpha1.RolloutPhaseDegraded && progressing(cur).Reason == v1alpha1.ProgressDeadlineExceededReason
	})
	if took := time.Since(created); took > 20*time.Second {
		t.Fatalf("the deadline of 5 s passed only after %s", took)
	}
	if msg := progressing(cur).Message; !strings.Contains(msg, "Bad_Name") {
		t.Fatalf("the deadline's message lost the cause: %q", msg)
	}
}
