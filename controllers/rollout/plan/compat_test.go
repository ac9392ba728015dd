package plan

import (
	"encoding/json"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// Argo Rollouts compatibility of blue-green counts, abort deadlines and ephemeral metadata.

// settleChecking is settle with check run after every planning round on the plan and the world.
func settleChecking(w *world, limit time.Duration, check func(p Plan)) {
	w.t.Helper()
	end := w.now.Add(limit)
	for i := 0; i < 200; i++ {
		p, changed := w.step()
		check(p)
		if changed {
			w.now = w.now.Add(100 * time.Millisecond)
			continue
		}
		if p.RequeueAfter == 0 || w.now.Add(p.RequeueAfter).After(end) {
			return
		}
		w.now = w.now.Add(p.RequeueAfter)
	}
	w.t.Fatalf("no steady state after 200 rounds:\n%s", w.log.String())
}

func (w *world) byHash(hash string) *appsv1.ReplicaSet {
	for _, rs := range w.rss {
		if podHash(rs) == hash {
			return rs
		}
	}
	return nil
}

func (w *world) selects(service string) string {
	return w.services[service].Spec.Selector[v1alpha1.PodTemplateHashLabelKey]
}

// checkActiveCounts: the status counts ready and available pods, HPAReplicas and the selector of
// the ReplicaSet the active Service selects; replicas and updatedReplicas stay the totals.
func checkActiveCounts(t *testing.T, w *world) {
	t.Helper()
	st := w.ro.Status
	active := w.byHash(w.selects("demo-active"))
	if active == nil {
		t.Fatalf("the active Service selects no ReplicaSet")
	}
	var total int32
	for _, rs := range w.rss {
		total += rs.Status.Replicas
	}
	wantSelector := metav1.FormatLabelSelector(active.Spec.Selector)
	if st.ReadyReplicas != active.Status.ReadyReplicas || st.AvailableReplicas != active.Status.AvailableReplicas ||
		st.HPAReplicas != active.Status.Replicas || st.Selector != wantSelector || st.Replicas != total {
		t.Fatalf("status ready %d available %d HPA %d selector %q replicas %d; want the active ReplicaSet's %d/%d/%d %q and total %d\n%s",
			st.ReadyReplicas, st.AvailableReplicas, st.HPAReplicas, st.Selector, st.Replicas,
			active.Status.ReadyReplicas, active.Status.AvailableReplicas, active.Status.Replicas, wantSelector, total, w.log.String())
	}
}

// TestBlueGreenCountsTheActiveReplicaSet: with the preview pods up (6 pods, 3 behind the active
// Service) the status says 3/3 as Argo Rollouts does, and status.selector carries the active hash
// an HPA needs; before the active Service selects anything, every pod counts under the
// Rollout's own selector.
func TestBlueGreenCountsTheActiveReplicaSet(t *testing.T) {
	ro := blueGreenRollout(3, v1alpha1.BlueGreenStrategy{AutoPromotionEnabled: ptr.To(false)})
	w := newWorld(t, ro, "demo-active", "demo-preview")
	w.step()
	if st := w.ro.Status; st.Selector != "app=demo" || st.HPAReplicas != st.Replicas {
		t.Fatalf("before any active selector: selector %q HPA %d replicas %d; want app=demo and the total", st.Selector, st.HPAReplicas, st.Replicas)
	}
	w.settle(time.Minute)
	checkActiveCounts(t, w)
	w.setImage("app:2")
	w.settle(time.Hour)
	if len(w.ro.Status.PauseConditions) == 0 || w.selects("demo-preview") == w.selects("demo-active") {
		t.Fatalf("want the update paused with the preview pods up:\n%s", w.log.String())
	}
	st := w.ro.Status
	if st.Replicas != 6 || st.UpdatedReplicas != 3 || st.ReadyReplicas != 3 || st.AvailableReplicas != 3 || st.HPAReplicas != 3 {
		t.Fatalf("replicas %d updated %d ready %d available %d HPA %d; want 6 3 3 3 3", st.Replicas, st.UpdatedReplicas, st.ReadyReplicas, st.AvailableReplicas, st.HPAReplicas)
	}
	if want := "app=demo," + v1alpha1.PodTemplateHashLabelKey + "=" + w.selects("demo-active"); st.Selector != want {
		t.Fatalf("selector %q, want %q", st.Selector, want)
	}
	checkActiveCounts(t, w)
	w.promote()
	w.settle(time.Hour)
	checkActiveCounts(t, w)
}

// TestBlueGreenAbortKeepsPreviewOnTheNewReplicaSet: after an abort the active Service is back on
// stable, the preview Service stays on the new ReplicaSet (which keeps available pods) until the
// deadline in its scale-down annotation, AbortedAt + abortScaleDownDelaySeconds in RFC 3339;
// then the preview goes back to stable as the new pods go, and the annotation with them.
func TestBlueGreenAbortKeepsPreviewOnTheNewReplicaSet(t *testing.T) {
	ro := blueGreenRollout(3, v1alpha1.BlueGreenStrategy{AutoPromotionEnabled: ptr.To(false), AbortScaleDownDelaySeconds: ptr.To[int32](26)})
	w := newWorld(t, ro, "demo-active", "demo-preview")
	w.settle(time.Minute)
	stable := w.ro.Status.StableRS
	w.setImage("app:2")
	w.settle(time.Hour)
	fresh := w.ro.Status.CurrentPodHash
	w.note("abort")
	w.ro.Status.Abort = true
	sawDeadline := false
	settleChecking(w, time.Hour, func(Plan) {
		aborted := w.ro.Status.AbortedAt
		if aborted == nil {
			return // the status write was lost
		}
		rs := w.byHash(fresh)
		end := aborted.Add(26 * time.Second)
		if w.now.Before(end) {
			want := end.UTC().Format(time.RFC3339)
			if got := rs.Annotations[v1alpha1.ScaleDownDeadlineAnnotationKey]; got != want {
				t.Fatalf("at %s the aborted ReplicaSet's deadline is %q, want %q\n%s", w.now, got, want, w.log.String())
			}
			sawDeadline = true
			if w.selects("demo-preview") != fresh || availableReplicas(rs) == 0 || specReplicas(rs) == 0 {
				t.Fatalf("before the deadline the preview Service selects %s (want %s, with available pods)\n%s", w.selects("demo-preview"), fresh, w.log.String())
			}
		}
		if w.selects("demo-active") != stable {
			t.Fatalf("the active Service selects %s after the abort, want %s", w.selects("demo-active"), stable)
		}
		checkActiveCounts(t, w)
	})
	rs := w.byHash(fresh)
	if !sawDeadline || specReplicas(rs) != 0 || w.selects("demo-preview") != stable {
		t.Fatalf("after the deadline: %s has %d replicas, preview selects %s; want 0 and %s\n%s", fresh, specReplicas(rs), w.selects("demo-preview"), stable, w.log.String())
	}
	if _, ok := rs.Annotations[v1alpha1.ScaleDownDeadlineAnnotationKey]; ok {
		t.Fatalf("a ReplicaSet scaled to zero keeps its scale-down deadline")
	}
}

// TestAbortDeadlineCancelledByRetry: a retry removes the deadline an abort put on the new
// ReplicaSet (blue-green and routed canary), and the ReplicaSet is never scaled down under the
// retried update, long past the old deadline. A retried blue-green is not an instant rollback:
// it pauses for promotion again.
func TestAbortDeadlineCancelledByRetry(t *testing.T) {
	for name, ro := range map[string]*v1alpha1.Rollout{
		"bluegreen":     blueGreenRollout(3, v1alpha1.BlueGreenStrategy{AutoPromotionEnabled: ptr.To(false)}),
		"routed canary": canaryRollout(4, weight(40), pause("")),
	} {
		t.Run(name, func(t *testing.T) {
			services := []string{"demo-canary", "demo-stable"}
			if ro.Spec.Strategy.Canary != nil {
				ro.Spec.Strategy.Canary.TrafficRouting = gatewayRouting()
			} else {
				services = []string{"demo-active", "demo-preview"}
			}
			w := newWorld(t, ro, services...)
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Hour)
			fresh := w.ro.Status.CurrentPodHash
			w.note("abort")
			w.ro.Status.Abort = true
			w.settle(5 * time.Second)
			if _, ok := w.byHash(fresh).Annotations[v1alpha1.ScaleDownDeadlineAnnotationKey]; !ok {
				t.Fatalf("no scale-down deadline on the aborted ReplicaSet\n%s", w.log.String())
			}
			w.note("retry")
			w.ro.Status.Abort = false
			settleChecking(w, time.Hour, func(Plan) {
				rs := w.byHash(fresh)
				if specReplicas(rs) == 0 {
					t.Fatalf("the retried ReplicaSet was scaled down\n%s", w.log.String())
				}
			})
			if _, ok := w.byHash(fresh).Annotations[v1alpha1.ScaleDownDeadlineAnnotationKey]; ok {
				t.Fatalf("the retried ReplicaSet keeps the abort's scale-down deadline\n%s", w.log.String())
			}
			if len(w.ro.Status.PauseConditions) == 0 || w.ro.Status.Phase != v1alpha1.RolloutPhasePaused {
				t.Fatalf("the retried update does not wait at its pause (phase %s)\n%s", w.ro.Status.Phase, w.log.String())
			}
		})
	}
}

// TestHealthyOnlyOnceRelabelled: no plan that still relabels the new ReplicaSet's pods reports
// the rollout Healthy; the update ends Healthy once they carry the stable metadata, and a
// settled rollout plans no metadata change.
func TestHealthyOnlyOnceRelabelled(t *testing.T) {
	for name, ro := range map[string]*v1alpha1.Rollout{
		"canary":    canaryRollout(4, weight(50), pause("1s")),
		"bluegreen": blueGreenRollout(3, v1alpha1.BlueGreenStrategy{}),
	} {
		t.Run(name, func(t *testing.T) {
			services := []string{"demo-canary", "demo-stable"}
			if c := ro.Spec.Strategy.Canary; c != nil {
				c.CanaryMetadata = &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"role": "canary"}}
				c.StableMetadata = &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"role": "stable"}}
			} else {
				b := ro.Spec.Strategy.BlueGreen
				b.PreviewMetadata = &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"role": "preview"}}
				b.ActiveMetadata = &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"role": "active"}}
				services = []string{"demo-active", "demo-preview"}
			}
			w := newWorld(t, ro, services...)
			w.settle(time.Minute)
			w.setImage("app:2")
			relabelled := false
			settleChecking(w, time.Hour, func(p Plan) {
				for _, md := range p.PodMetadata {
					if md.ReplicaSet == "demo-"+p.Status.CurrentPodHash && md.Relabels() {
						relabelled = true
						if p.Status.Phase == v1alpha1.RolloutPhaseHealthy {
							t.Fatalf("Healthy in the plan that relabels %s\n%s", md.ReplicaSet, w.log.String())
						}
					}
				}
			})
			st := w.ro.Status
			if !relabelled || st.Phase != v1alpha1.RolloutPhaseHealthy || st.StableRS != st.CurrentPodHash {
				t.Fatalf("relabelled %v, phase %s: want a relabel, then Healthy\n%s", relabelled, st.Phase, w.log.String())
			}
			if p := Next(w.ro.DeepCopy(), w.observe(), w.now); len(p.PodMetadata) > 0 {
				t.Fatalf("a settled rollout plans metadata changes: %+v", p.PodMetadata)
			}
		})
	}
}

// TestRemovedEphemeralKeyLeavesThePods: a label dropped from stableMetadata is removed from the
// stable ReplicaSet's template and pods, because the ReplicaSet records (in Argo Rollouts' key
// and format) what was injected; the record follows the new metadata.
func TestRemovedEphemeralKeyLeavesThePods(t *testing.T) {
	ro := canaryRollout(4, weight(50), pause(""))
	c := ro.Spec.Strategy.Canary
	c.StableMetadata = &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"role": "stable", "team": "web"}, Annotations: map[string]string{"owner": "a"}}
	w := newWorld(t, ro, "demo-canary", "demo-stable")
	w.settle(time.Minute)
	rs := w.byHash(w.ro.Status.StableRS)
	var rec v1alpha1.PodTemplateMetadata
	if err := json.Unmarshal([]byte(rs.Annotations[EphemeralMetadataAnnotation]), &rec); err != nil || rec.Labels["team"] != "web" || rec.Annotations["owner"] != "a" {
		t.Fatalf("record %q (%v): want the injected stable metadata", rs.Annotations[EphemeralMetadataAnnotation], err)
	}
	w.note("team and owner dropped from stableMetadata")
	c.StableMetadata = &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"role": "stable"}}
	w.ro.Generation++
	p := Next(w.ro.DeepCopy(), w.observe(), w.now)
	if len(p.PodMetadata) != 1 || p.PodMetadata[0].ReplicaSet != rs.Name {
		t.Fatalf("metadata changes %+v, want one for %s", p.PodMetadata, rs.Name)
	}
	md := p.PodMetadata[0]
	if v, ok := md.Labels["team"]; !ok || v != nil {
		t.Fatalf("label changes %v: want team removed", md.Labels)
	}
	if v, ok := md.Annotations["owner"]; !ok || v != nil {
		t.Fatalf("annotation changes %v: want owner removed", md.Annotations)
	}
	if _, ok := md.Labels["role"]; ok {
		t.Fatalf("label changes %v touch role, which stays", md.Labels)
	}
	if md.Injected == nil || *md.Injected != `{"labels":{"role":"stable"}}` {
		t.Fatalf("new record %v, want {\"labels\":{\"role\":\"stable\"}}", md.Injected)
	}
	w.settle(time.Minute)
	rs = w.byHash(w.ro.Status.StableRS)
	if _, ok := rs.Spec.Template.Labels["team"]; ok || rs.Spec.Template.Labels["role"] != "stable" {
		t.Fatalf("template labels %v: want role=stable without team", rs.Spec.Template.Labels)
	}
	if _, ok := rs.Spec.Template.Annotations["owner"]; ok {
		t.Fatalf("template annotations %v: want owner gone", rs.Spec.Template.Annotations)
	}
	w.note("stableMetadata removed")
	c.StableMetadata = nil
	w.ro.Generation++
	w.settle(time.Minute)
	rs = w.byHash(w.ro.Status.StableRS)
	if _, ok := rs.Spec.Template.Labels["role"]; ok {
		t.Fatalf("template labels %v: want role gone with stableMetadata", rs.Spec.Template.Labels)
	}
	if _, ok := rs.Annotations[EphemeralMetadataAnnotation]; ok {
		t.Fatalf("the record stays with no metadata injected")
	}
}
