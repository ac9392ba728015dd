package rollout_test

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// TestMissingServiceIsInvalidSpecUntilItAppears: a canary, stable, active or preview Service
// that does not exist makes the Rollout InvalidSpec (Degraded) with a message naming the field
// and the Service, as Argo Rollouts reports it; nothing is created, and
// status.blueGreen.activeSelector claims no switch. When the Service appears the Rollout
// recovers and goes Healthy behind it.
func TestMissingServiceIsInvalidSpecUntilItAppears(t *testing.T) {
	cases := []struct {
		name     string
		strategy v1alpha1.RolloutStrategy
		missing  string
		field    string
		present  []string
	}{
		{"canary", v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{CanaryService: "web-canary", StableService: "web-stable"}},
			"web-canary", "spec.strategy.canary.canaryService", []string{"web-stable"}},
		{"stable", v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{CanaryService: "web-canary", StableService: "web-stable"}},
			"web-stable", "spec.strategy.canary.stableService", []string{"web-canary"}},
		{"active", v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{ActiveService: "web-active", PreviewService: "web-preview"}},
			"web-active", "spec.strategy.blueGreen.activeService", []string{"web-preview"}},
		{"preview", v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{ActiveService: "web-active", PreviewService: "web-preview"}},
			"web-preview", "spec.strategy.blueGreen.previewService", []string{"web-active"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			ns := testNamespace(t, "missing-svc-"+c.name)
			fakeReplicaSets(t, ns)
			for _, name := range c.present {
				createService(t, ns, name, "web")
			}
			ro := newRollout("web")
			ro.Namespace = ns
			ro.Spec.Strategy = c.strategy
			if err := k8s.Create(ctx, ro); err != nil {
				t.Fatal(err)
			}
			want := c.field + `: Invalid value: "` + c.missing + `": services "` + c.missing + `" not found`
			var cur *v1alpha1.Rollout
			eventually(t, "InvalidSpec naming "+c.missing, func() bool {
				cur = getRollout(t, ns, "web")
				inv := condition(cur, v1alpha1.InvalidSpec)
				return cur.Status.Phase == v1alpha1.RolloutPhaseDegraded && inv != nil && inv.Status == corev1.ConditionTrue &&
					strings.Contains(inv.Message, want)
			})
			if cur.Status.BlueGreen.ActiveSelector != "" {
				t.Fatalf("activeSelector %q claims a switch that did not happen", cur.Status.BlueGreen.ActiveSelector)
			}
			if n := replicaSetCount(t, ns); n != 0 {
				t.Fatalf("%d ReplicaSets created for an invalid spec", n)
			}

			createService(t, ns, c.missing, "web")
			eventually(t, "Healthy once the Service exists", func() bool {
				cur = getRollout(t, ns, "web")
				return cur.Status.Phase == v1alpha1.RolloutPhaseHealthy && condition(cur, v1alpha1.InvalidSpec) == nil
			})
			if serviceHash(t, ns, c.missing) != cur.Status.StableRS {
				t.Fatalf("Service %s selects %q, want the stable %q", c.missing, serviceHash(t, ns, c.missing), cur.Status.StableRS)
			}
			if c.strategy.BlueGreen != nil && (cur.Status.BlueGreen.ActiveSelector != cur.Status.StableRS ||
				serviceHash(t, ns, "web-active") != cur.Status.StableRS) {
				t.Fatalf("activeSelector %q, active Service %q, stable %q", cur.Status.BlueGreen.ActiveSelector,
					serviceHash(t, ns, "web-active"), cur.Status.StableRS)
			}
		})
	}
}

// TestRefusedActiveSwitchIsNotClaimed: a blue-green update whose active Service the API server
// refuses to re-point stays Progressing: status.blueGreen.activeSelector and stableRS keep the
// old ReplicaSet, which keeps its pods; once the refusal is lifted the switch happens and only
// then does the status name the new ReplicaSet.
func TestRefusedActiveSwitchIsNotClaimed(t *testing.T) {
	ctx := context.Background()
	ns := testNamespace(t, "refused-active")
	fakeReplicaSets(t, ns)
	createService(t, ns, "web-active", "web")
	ro := newRollout("web")
	ro.Namespace = ns
	ro.Spec.Strategy = v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{ActiveService: "web-active"}}
	if err := k8s.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	var old string
	eventually(t, "the first revision Healthy behind the active Service", func() bool {
		cur := getRollout(t, ns, "web")
		old = cur.Status.StableRS
		return cur.Status.Phase == v1alpha1.RolloutPhaseHealthy && old != "" && serviceHash(t, ns, "web-active") == old &&
			cur.Status.BlueGreen.ActiveSelector == old
	})

	const frozen = `object.metadata.name != "web-active" || object.spec.selector == oldObject.spec.selector`
	lift := denyUpdates(t, ns, "", "services", frozen, func() error {
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web-active"}}
		return k8s.Patch(ctx, svc, client.RawPatch("application/merge-patch+json",
			[]byte(`{"spec":{"selector":{"probe":"x"}}}`)), client.DryRunAll)
	})
	cur := getRollout(t, ns, "web")
	cur.Spec.Template.Spec.Containers[0].Image = "app:2"
	if err := k8s.Update(ctx, cur); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the refused switch in the Progressing condition", func() bool {
		cur = getRollout(t, ns, "web")
		c := progressing(cur)
		return cur.Status.CurrentPodHash != old && c != nil && strings.Contains(c.Message, "switch Service selectors")
	})
	if cur.Status.BlueGreen.ActiveSelector != old || cur.Status.StableRS != old || cur.Status.Phase != v1alpha1.RolloutPhaseProgressing {
		t.Fatalf("a refused switch is claimed: activeSelector %q stableRS %q phase %s, want the old %q, Progressing",
			cur.Status.BlueGreen.ActiveSelector, cur.Status.StableRS, cur.Status.Phase, old)
	}
	if rs := replicaSetByHash(t, ns, old); ptr.Deref(rs.Spec.Replicas, 0) != 3 {
		t.Fatalf("the old ReplicaSet, still active, was scaled to %d", ptr.Deref(rs.Spec.Replicas, 0))
	}

	lift()
	eventually(t, "the switch, then Healthy on the new ReplicaSet", func() bool {
		cur = getRollout(t, ns, "web")
		return cur.Status.Phase == v1alpha1.RolloutPhaseHealthy && cur.Status.StableRS == cur.Status.CurrentPodHash &&
			cur.Status.BlueGreen.ActiveSelector == cur.Status.CurrentPodHash && serviceHash(t, ns, "web-active") == cur.Status.CurrentPodHash
	})
}

func condition(ro *v1alpha1.Rollout, t v1alpha1.RolloutConditionType) *v1alpha1.RolloutCondition {
	for i := range ro.Status.Conditions {
		if ro.Status.Conditions[i].Type == t {
			return &ro.Status.Conditions[i]
		}
	}
	return nil
}

func replicaSetCount(t *testing.T, ns string) int {
	t.Helper()
	var list appsv1.ReplicaSetList
	if err := k8s.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	return len(list.Items)
}
