package rollout

import (
	"testing"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

func markedRule(owner string) *istionetworkingv1.DestinationRule {
	dr := &istionetworkingv1.DestinationRule{ObjectMeta: metav1.ObjectMeta{Name: "web",
		Annotations: map[string]string{v1alpha1.ManagedByRolloutsAnnotationKey: owner, "team": "shop"}}}
	dr.Spec.Host = "web"
	dr.Spec.Subsets = []*networkingv1alpha3.Subset{
		{Name: "stable", Labels: map[string]string{"app": "web", v1alpha1.PodTemplateHashLabelKey: "5ab1e"}},
		{Name: "canary", Labels: map[string]string{"app": "web", v1alpha1.PodTemplateHashLabelKey: "c0ffee"}},
		{Name: "legacy", Labels: map[string]string{"app": "web-v0"}},
	}
	return dr
}

// TestUnmarkDestinationRule: releasing a DestinationRule takes out the managed-by annotation and
// every subset's hash label, and nothing else; a rule another Rollout marked since it was read
// is left alone.
func TestUnmarkDestinationRule(t *testing.T) {
	dr := markedRule("web")
	if !unmarkDestinationRule(dr, "web") {
		t.Fatalf("unmarkDestinationRule reported no change")
	}
	if _, ok := dr.Annotations[v1alpha1.ManagedByRolloutsAnnotationKey]; ok || dr.Annotations["team"] != "shop" {
		t.Errorf("annotations after release: %v; want only team=shop", dr.Annotations)
	}
	for _, s := range dr.Spec.Subsets {
		if _, ok := s.Labels[v1alpha1.PodTemplateHashLabelKey]; ok || len(s.Labels) != 1 {
			t.Errorf("subset %s labels after release: %v; want the hash label gone and the app label kept", s.Name, s.Labels)
		}
	}
	if unmarkDestinationRule(dr, "web") {
		t.Errorf("a released rule was changed again")
	}

	taken := markedRule("other")
	if unmarkDestinationRule(taken, "web") || taken.Annotations[v1alpha1.ManagedByRolloutsAnnotationKey] != "other" ||
		taken.Spec.Subsets[1].Labels[v1alpha1.PodTemplateHashLabelKey] != "c0ffee" {
		t.Errorf("a rule another Rollout marked was changed: %v %v", taken.Annotations, taken.Spec.Subsets)
	}
}

// TestManagedByKey: only objects with the managed-by annotation are indexed, under the Rollout it
// names.
func TestManagedByKey(t *testing.T) {
	if got := managedByKey(markedRule("web")); len(got) != 1 || got[0] != "web" {
		t.Errorf("managedByKey(marked) = %v, want [web]", got)
	}
	if got := managedByKey(&istionetworkingv1.DestinationRule{}); got != nil {
		t.Errorf("managedByKey(unmarked) = %v, want none", got)
	}
}
