package rollout_test

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// marks returns the pod-template hash a Service selects, the Rollout its managed-by annotation
// names, and its other selector keys.
func marks(t *testing.T, ns, name string) (hash, managedBy string, rest map[string]string) {
	t.Helper()
	svc := &corev1.Service{}
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, svc); err != nil {
		t.Fatalf("get Service %s: %v", name, err)
	}
	rest = map[string]string{}
	for k, v := range svc.Spec.Selector {
		if k != v1alpha1.PodTemplateHashLabelKey {
			rest[k] = v
		}
	}
	return svc.Spec.Selector[v1alpha1.PodTemplateHashLabelKey], svc.Annotations[v1alpha1.ManagedByRolloutsAnnotationKey], rest
}

// released reports whether a Service carries neither the hash selector nor the managed-by
// annotation, and still selects app=web.
func released(t *testing.T, ns, name string) bool {
	hash, by, rest := marks(t, ns, name)
	return hash == "" && by == "" && len(rest) == 1 && rest["app"] == "web"
}

// TestDeletedRolloutReleasesItsServices: once a canary Rollout is deleted, its stable and canary
// Services lose the rollouts-pod-template-hash selector key and the managed-by annotation, and
// keep their other selector keys, so they select what their owner wrote (a Deployment created
// afterwards with the same labels gets endpoints).
func TestDeletedRolloutReleasesItsServices(t *testing.T) {
	ctx := context.Background()
	ns := testNamespace(t, "release-deleted")
	fakeReplicaSets(t, ns)
	createService(t, ns, "web-stable", "web")
	createService(t, ns, "web-canary", "web")
	ro := newRollout("web")
	ro.Namespace = ns
	ro.Spec.Strategy.Canary.StableService, ro.Spec.Strategy.Canary.CanaryService = "web-stable", "web-canary"
	if err := k8s.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	var stable string
	eventually(t, "Healthy with both Services marked", func() bool {
		cur := getRollout(t, ns, "web")
		stable = cur.Status.StableRS
		sh, sb, _ := marks(t, ns, "web-stable")
		ch, cb, _ := marks(t, ns, "web-canary")
		return cur.Status.Phase == v1alpha1.RolloutPhaseHealthy && stable != "" && sh == stable && ch == stable && sb == "web" && cb == "web"
	})

	if err := k8s.Delete(ctx, getRollout(t, ns, "web")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "both Services released", func() bool {
		return released(t, ns, "web-stable") && released(t, ns, "web-canary")
	})
}

// TestServiceOfAnotherRolloutIsNotReleased: a Service a deleted Rollout marked but that another
// Rollout still names is left as it is; the Service only that Rollout named is released.
func TestServiceOfAnotherRolloutIsNotReleased(t *testing.T) {
	ctx := context.Background()
	ns := testNamespace(t, "release-shared")
	fakeReplicaSets(t, ns)
	createService(t, ns, "web-stable", "web")
	createService(t, ns, "web-canary", "web")
	ro := newRollout("web")
	ro.Namespace = ns
	ro.Spec.Strategy.Canary.StableService, ro.Spec.Strategy.Canary.CanaryService = "web-stable", "web-canary"
	if err := k8s.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	var stable string
	eventually(t, "Healthy with both Services marked", func() bool {
		cur := getRollout(t, ns, "web")
		stable = cur.Status.StableRS
		_, sb, _ := marks(t, ns, "web-stable")
		_, cb, _ := marks(t, ns, "web-canary")
		return cur.Status.Phase == v1alpha1.RolloutPhaseHealthy && sb == "web" && cb == "web"
	})
	// Another Rollout names web-stable too; its canary Service does not exist, so it stays
	// InvalidSpec and writes no selector.
	other := newRollout("other")
	other.Namespace = ns
	other.Spec.Strategy.Canary.StableService, other.Spec.Strategy.Canary.CanaryService = "web-stable", "missing"
	if err := k8s.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the other Rollout InvalidSpec", func() bool {
		inv := condition(getRollout(t, ns, "other"), v1alpha1.InvalidSpec)
		return inv != nil && inv.Status == corev1.ConditionTrue
	})

	if err := k8s.Delete(ctx, getRollout(t, ns, "web")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the canary Service released", func() bool { return released(t, ns, "web-canary") })
	// One pass over the Services marked "web" released web-canary and decided on web-stable.
	if hash, by, _ := marks(t, ns, "web-stable"); hash != stable || by != "web" {
		t.Fatalf("web-stable, still named by Rollout other, was changed: hash %q (want %q), managed-by %q (want web)", hash, stable, by)
	}
}

// TestBlueGreenToCanaryReleasesOldServices: a blue-green Rollout switched to canary releases its
// old active and preview Services (their new pods would get no traffic through them otherwise),
// and marks the canary's Services instead.
func TestBlueGreenToCanaryReleasesOldServices(t *testing.T) {
	ctx := context.Background()
	ns := testNamespace(t, "release-bg-canary")
	fakeReplicaSets(t, ns)
	for _, name := range []string{"web-active", "web-preview", "web-stable", "web-canary"} {
		createService(t, ns, name, "web")
	}
	ro := newRollout("web")
	ro.Namespace = ns
	ro.Spec.Strategy = v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{ActiveService: "web-active", PreviewService: "web-preview"}}
	if err := k8s.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Healthy with the active and preview Services marked", func() bool {
		cur := getRollout(t, ns, "web")
		ah, ab, _ := marks(t, ns, "web-active")
		_, pb, _ := marks(t, ns, "web-preview")
		return cur.Status.Phase == v1alpha1.RolloutPhaseHealthy && ah == cur.Status.StableRS && ab == "web" && pb == "web"
	})

	cur := getRollout(t, ns, "web")
	cur.Spec.Strategy = v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{StableService: "web-stable", CanaryService: "web-canary"}}
	if err := k8s.Update(ctx, cur); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the blue-green Services released and the canary's marked", func() bool {
		cur := getRollout(t, ns, "web")
		sh, sb, _ := marks(t, ns, "web-stable")
		return released(t, ns, "web-active") && released(t, ns, "web-preview") &&
			cur.Status.StableRS != "" && sh == cur.Status.StableRS && sb == "web"
	})
}
