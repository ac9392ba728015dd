package managercache_test

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	"github.com/sluice-dev/sluice/controllers/managercache"
)

// The manager caches ReplicaSets and Jobs by label only, so that a cluster's other workloads do
// not grow its memory, and leaves every other kind the controllers read unfiltered.
func TestCacheOptions(t *testing.T) {
	opts, err := managercache.Options()
	if err != nil {
		t.Fatal(err)
	}
	byKind := map[string]cache.ByObject{}
	for obj, by := range opts.ByObject {
		byKind[fmt.Sprintf("%T", obj)] = by
	}
	want := map[string]string{
		"*v1.ReplicaSet": "rollouts-pod-template-hash",
		"*v1.Job":        "analysisrun.argoproj.io/uid",
		"*v1.Deployment": "",
		"*v1.Service":    "",
	}
	if len(byKind) != len(want) {
		t.Fatalf("cache options name %v, want exactly %v", byKind, want)
	}
	for kind, selector := range want {
		by, ok := byKind[kind]
		if !ok {
			t.Fatalf("no cache options for %s", kind)
		}
		got := ""
		if by.Label != nil {
			got = by.Label.String()
		}
		if got != selector {
			t.Errorf("%s cached with label selector %q, want %q", kind, got, selector)
		}
		if by.Field != nil || by.Namespaces != nil {
			t.Errorf("%s cache narrowed beyond its label: %+v", kind, by)
		}
		if by.Transform == nil {
			t.Errorf("%s cache keeps managedFields", kind)
		}
	}

	rs := func(l map[string]string) labels.Set { return labels.Set(l) }
	sel := byKind["*v1.ReplicaSet"].Label
	if !sel.Matches(rs(map[string]string{"app": "web", "rollouts-pod-template-hash": "abc"})) {
		t.Error("a Rollout's ReplicaSet is left out of the cache")
	}
	if sel.Matches(rs(map[string]string{"app": "web", "pod-template-hash": "abc"})) {
		t.Error("a Deployment's ReplicaSet is cached")
	}
	jobs := byKind["*v1.Job"].Label
	if !jobs.Matches(rs(map[string]string{"analysisrun.argoproj.io/uid": "1234"})) || jobs.Matches(rs(map[string]string{"job-name": "presync"})) {
		t.Error("the Job cache keeps other Jobs or drops analysis Jobs")
	}

	obj := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}}}
	out, err := byKind["*v1.Service"].Transform(obj)
	if err != nil || out.(*corev1.Service).ManagedFields != nil || out.(*corev1.Service).Name != "web" {
		t.Errorf("transform = %v, %v; want the Service without managedFields", out, err)
	}
}
