package plan

import (
	"testing"
	"time"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// TestAntiAffinity: during an update the new ReplicaSet's pods prefer nodes without the stable
// version's pods; the first ReplicaSet gets no such rule.
func TestAntiAffinity(t *testing.T) {
	ro := canaryRollout(2, weight(50))
	ro.Spec.Strategy.Canary.AntiAffinity = &v1alpha1.AntiAffinity{
		PreferredDuringSchedulingIgnoredDuringExecution: &v1alpha1.PreferredDuringSchedulingIgnoredDuringExecution{Weight: 40},
	}
	w := newWorld(t, ro, "demo-canary", "demo-stable")
	w.settle(time.Minute)
	if a := w.rss[0].Spec.Template.Spec.Affinity; a != nil {
		t.Fatalf("the first ReplicaSet got an affinity: %+v", a)
	}
	stable := w.ro.Status.StableRS
	w.setImage("app:2")
	p, _ := w.step()
	if len(p.Create) != 1 {
		t.Fatalf("want one ReplicaSet created, got %d", len(p.Create))
	}
	a := p.Create[0].Spec.Template.Spec.Affinity
	if a == nil || a.PodAntiAffinity == nil || len(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) != 1 {
		t.Fatalf("new ReplicaSet affinity = %+v", a)
	}
	term := a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0]
	if term.Weight != 40 || term.PodAffinityTerm.LabelSelector.MatchLabels[v1alpha1.PodTemplateHashLabelKey] != stable ||
		term.PodAffinityTerm.TopologyKey != "kubernetes.io/hostname" {
		t.Fatalf("anti-affinity term = %+v, want weight 40 against %s per host", term, stable)
	}
}
