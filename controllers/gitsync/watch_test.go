package gitsync

import (
	"testing"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	dynamicfake "k8s.io/client-go/dynamic/fake"

	"github.com/sluice-dev/sluice/sync/inventory"
)

// A kind without a REST mapping when a GitSync first tracks it (its CRD came in the same sync) is
// watched once a later successful sync finds the mapping; the watch stops with its last user.
func TestLiveWatchStartsAKindWhoseMappingCameLater(t *testing.T) {
	gvk := schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"}
	gvr := schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}
	client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{gvr: "WidgetList"})
	mapper := meta.NewDefaultRESTMapper(nil)
	w := newLiveWatch(client, mapper, logr.Discard(), func(types.NamespacedName, inventory.ID) {})
	t.Cleanup(w.Stop)
	owner := types.NamespacedName{Namespace: "argo", Name: "app"}

	w.Track(owner, []schema.GroupVersionKind{gvk})
	if kw := w.informers[gvk]; kw == nil || kw.informer != nil {
		t.Fatalf("a kind without a mapping: %+v, want tracked without an informer", kw)
	}
	mapper.Add(gvk, meta.RESTScopeNamespace) // the CRD is served now
	w.Track(owner, []schema.GroupVersionKind{gvk})
	kw := w.informers[gvk]
	if kw == nil || kw.informer == nil {
		t.Fatalf("the kind is not watched once its mapping exists: %+v", kw)
	}
	if kw.users != 1 {
		t.Errorf("users %d after the retry, want 1", kw.users)
	}
	w.Track(owner, nil)
	if _, ok := w.informers[gvk]; ok {
		t.Errorf("the watch of a kind no GitSync holds is still there")
	}
}
