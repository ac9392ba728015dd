package plan

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/utils/ptr"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// otherHash is a pod-template hash function other than PodTemplateHash, as a new k8s.io/api
// version (a different JSON encoding) or a new hashing scheme would give.
func otherHash(tmpl *corev1.PodTemplateSpec, collisionCount *int32) string {
	data, _ := json.Marshal(tmpl)
	sum := sha256.Sum256(append(data, fmt.Sprint(ptr.Deref(collisionCount, 0))...))
	return rand.SafeEncodeString(fmt.Sprintf("%x", sum[:4]))
}

// A new hash function must not re-roll anything: at rest and mid-update, the ReplicaSets are
// found by their templates and re-stamped, and none is created.
func TestHashFunctionChangeCreatesNoReplicaSet(t *testing.T) {
	for _, midUpdate := range []bool{false, true} {
		t.Run(fmt.Sprintf("midUpdate=%v", midUpdate), func(t *testing.T) {
			w := newWorld(t, canaryRollout(4, weight(25), pause("")), "demo-canary", "demo-stable")
			w.apiDefaults = true
			w.settle(time.Minute)
			if midUpdate {
				w.setImage("app:2")
				w.settle(time.Hour)
			}
			before := len(w.rss)
			status := w.ro.Status.DeepCopy()
			w.hash = otherHash
			if otherHash(&w.ro.Spec.Template, nil) == PodTemplateHash(&w.ro.Spec.Template, nil) {
				t.Fatal("the test's hash function must differ")
			}
			p, _ := w.step()
			if len(p.Create) > 0 {
				t.Fatalf("a new hash function created ReplicaSet %s", p.Create[0].Name)
			}
			w.settle(time.Hour)
			if len(w.rss) != before {
				t.Fatalf("ReplicaSets: %d before the hash change, %d after\n%s", before, len(w.rss), w.log.String())
			}
			if w.ro.Status.CurrentPodHash != status.CurrentPodHash || w.ro.Status.StableRS != status.StableRS ||
				!equalIndex(w.ro.Status.CurrentStepIndex, status.CurrentStepIndex) {
				t.Fatalf("status moved: before %s/%s, after %s/%s", status.CurrentPodHash, status.StableRS,
					w.ro.Status.CurrentPodHash, w.ro.Status.StableRS)
			}
			newHash := otherHash(&w.ro.Spec.Template, w.ro.Status.CollisionCount)
			if rs := byAnnotation(newHash, w.rss); rs == nil || podHash(rs) != status.CurrentPodHash {
				t.Fatalf("the current ReplicaSet was not re-stamped with the new hash %s", newHash)
			}
		})
	}
}

func TestSameTemplate(t *testing.T) {
	w := newWorld(t, canaryRollout(1), "demo-canary")
	w.apiDefaults = true
	ro := w.ro
	base := ro.Spec.Template.DeepCopy()
	base.Spec.NodeSelector = map[string]string{"disk": "ssd"}
	base.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("0.5")}
	stored := w.serverDefaults(base) // what the API server keeps in the ReplicaSet
	stored.Labels[v1alpha1.PodTemplateHashLabelKey] = "abc"
	stored.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")}

	cases := []struct {
		name  string
		edit  func(*corev1.PodTemplateSpec)
		match bool
	}{
		{"the same template", func(*corev1.PodTemplateSpec) {}, true},
		{"an explicit default", func(t *corev1.PodTemplateSpec) { t.Spec.Containers[0].ImagePullPolicy = corev1.PullIfNotPresent }, true},
		{"a new image", func(t *corev1.PodTemplateSpec) { t.Spec.Containers[0].Image = "app:2" }, false},
		{"a field removed", func(t *corev1.PodTemplateSpec) { t.Spec.NodeSelector = nil }, false},
		{"a label removed", func(t *corev1.PodTemplateSpec) { t.Labels = map[string]string{} }, false},
		{"a label added", func(t *corev1.PodTemplateSpec) { t.Labels["tier"] = "web" }, false},
		{"another default value", func(t *corev1.PodTemplateSpec) { t.Spec.Containers[0].ImagePullPolicy = corev1.PullAlways }, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tmpl := base.DeepCopy()
			c.edit(tmpl)
			got := SameTemplate(ro, w.serverDefaults(tmpl), stored)
			if got != c.match {
				t.Fatalf("SameTemplate = %v, want %v", got, c.match)
			}
			// The pre-check never rules out a template that matches.
			want, _ := toValue(forComparison(ro, tmpl))
			have, _ := toValue(forComparison(ro, stored))
			if c.match && !subset(want, have) {
				t.Fatal("the pre-check ruled out a matching template")
			}
		})
	}
}
