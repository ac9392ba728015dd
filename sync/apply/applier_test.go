package apply

import (
	"context"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"

	rov1 "github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// The API server's side of the optimistic lock (an apply holding a stale resourceVersion is a
// conflict) is covered in e2e (TestGitSyncApplyIsConditionalOnTheLiveVersion); here the fake
// client stands in for it to check the loop: a conflict reads the object again and fills again
// from the new version, and an apply without a resourceVersion is never retried.
func TestApplyFilledRereadsOnConflict(t *testing.T) {
	gvr := schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}
	gvk := gvr.GroupVersion().WithKind("HTTPRoute")
	now := obj(t, strings.Replace(routeLive("/"), "weight: 80", "weight: 60", 1))
	now = withVersion(now, "42")
	client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{gvr: "HTTPRouteList"}, now)
	var applied []*unstructured.Unstructured
	client.PrependReactor("patch", "httproutes", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.PatchAction)
		o := &unstructured.Unstructured{}
		if err := o.UnmarshalJSON(p.GetPatch()); err != nil {
			t.Fatal(err)
		}
		applied = append(applied, o)
		if o.GetResourceVersion() != "" && o.GetResourceVersion() != "42" {
			return true, nil, apierrors.NewConflict(gvr.GroupResource(), o.GetName(), nil)
		}
		return true, o, nil
	})
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(gvk, meta.RESTScopeNamespace)
	a := &Applier{Client: client, Mapper: resettable{mapper}}
	cmp := &Comparer{Others: NewOthers([]*rov1.Rollout{rollout(t, canaryRollout)}, nil)}

	stale := withVersion(obj(t, routeLive("/")), "41")
	if _, err := a.ApplyFilled(context.Background(), Pending{Desired: obj(t, routeDesired), Live: stale}, cmp.ForApply); err != nil {
		t.Fatalf("ApplyFilled: %v", err)
	}
	if len(applied) != 2 {
		t.Fatalf("%d applies, want the stale one refused and one from the version read again", len(applied))
	}
	refs := applied[1].Object["spec"].(map[string]any)["rules"].([]any)[1].(map[string]any)["backendRefs"].([]any)
	if w := num(refs[0].(map[string]any)["weight"]); w != 60 {
		t.Errorf("second apply carries stable weight %d, want the current 60 (not the stale 80)", w)
	}
	if rv := applied[1].GetResourceVersion(); rv != "42" {
		t.Errorf("second apply resourceVersion %q, want 42", rv)
	}

	// Nothing taken from live: no resourceVersion, so no lock and no retry.
	applied = nil
	plain := &Comparer{}
	if _, err := a.ApplyFilled(context.Background(), Pending{Desired: obj(t, routeDesired), Live: stale}, plain.ForApply); err != nil {
		t.Fatalf("ApplyFilled without fill: %v", err)
	}
	if len(applied) != 1 || applied[0].GetResourceVersion() != "" {
		t.Errorf("applies %d (resourceVersion %q), want one unconditional apply", len(applied), applied[0].GetResourceVersion())
	}
}

func withVersion(o *unstructured.Unstructured, rv string) *unstructured.Unstructured {
	o.SetResourceVersion(rv)
	return o
}

type resettable struct{ *meta.DefaultRESTMapper }

func (resettable) Reset() {}
