package apply

import (
	"context"
	"errors"
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
		t.Fatalf("applies %v, want one unconditional apply", applied)
	}
}

// A writer that never stops: the loop ends after conflictAttempts applies and says why.
func TestApplyFilledGivesUpOnAWriterThatNeverStops(t *testing.T) {
	a, client, gvr := routeApplier(t, withVersion(obj(t, routeLive("/")), "42"))
	applies := 0
	client.PrependReactor("patch", "httproutes", func(k8stesting.Action) (bool, runtime.Object, error) {
		applies++
		return true, nil, apierrors.NewConflict(gvr.GroupResource(), "web", nil)
	})
	cmp := &Comparer{Others: NewOthers([]*rov1.Rollout{rollout(t, canaryRollout)}, nil)}
	_, err := a.ApplyFilled(context.Background(), Pending{Desired: obj(t, routeDesired), Live: withVersion(obj(t, routeLive("/")), "41")}, cmp.ForApply)
	if err == nil || !apierrors.IsConflict(err) || !strings.Contains(err.Error(), "5 attempts") {
		t.Errorf("error %v, want the conflict naming the 5 attempts", err)
	}
	if applies != conflictAttempts {
		t.Errorf("%d applies, want %d", applies, conflictAttempts)
	}
}

// An object deleted between the read and the write, whose create the API server refuses because
// it carries a resourceVersion: it is applied again as Git has it, without one.
func TestApplyFilledCreatesAnObjectDeletedMeanwhile(t *testing.T) {
	a, client, _ := routeApplier(t)
	var applied []*unstructured.Unstructured
	client.PrependReactor("patch", "httproutes", func(act k8stesting.Action) (bool, runtime.Object, error) {
		o := &unstructured.Unstructured{}
		if err := o.UnmarshalJSON(act.(k8stesting.PatchAction).GetPatch()); err != nil {
			t.Fatal(err)
		}
		applied = append(applied, o)
		if o.GetResourceVersion() != "" {
			return true, nil, apierrors.NewInternalError(errors.New("resourceVersion should not be set on objects to be created"))
		}
		return true, o, nil
	})
	cmp := &Comparer{Others: NewOthers([]*rov1.Rollout{rollout(t, canaryRollout)}, nil)}
	if _, err := a.ApplyFilled(context.Background(), Pending{Desired: obj(t, routeDesired), Live: withVersion(obj(t, routeLive("/")), "41")}, cmp.ForApply); err != nil {
		t.Fatalf("ApplyFilled: %v", err)
	}
	if len(applied) != 2 || applied[1].GetResourceVersion() != "" {
		t.Fatalf("applies %v, want the refused one and one without a resourceVersion", applied)
	}
}

// A resourceVersion that came from Git (an exported manifest) is not a lock of ours: no retry.
func TestApplyFilledDoesNotRetryGitsOwnResourceVersion(t *testing.T) {
	a, client, gvr := routeApplier(t, withVersion(obj(t, routeLive("/")), "42"))
	applies := 0
	client.PrependReactor("patch", "httproutes", func(k8stesting.Action) (bool, runtime.Object, error) {
		applies++
		return true, nil, apierrors.NewConflict(gvr.GroupResource(), "web", nil)
	})
	desired := withVersion(obj(t, routeDesired), "7")
	if _, err := a.ApplyFilled(context.Background(), Pending{Desired: desired, Live: withVersion(obj(t, routeLive("/")), "42")}, (&Comparer{}).ForApply); !apierrors.IsConflict(err) {
		t.Errorf("error %v, want the conflict", err)
	}
	if applies != 1 {
		t.Errorf("%d applies, want 1", applies)
	}
}

func routeApplier(t *testing.T, objs ...runtime.Object) (*Applier, *dynamicfake.FakeDynamicClient, schema.GroupVersionResource) {
	t.Helper()
	gvr := schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}
	client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{gvr: "HTTPRouteList"}, objs...)
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(gvr.GroupVersion().WithKind("HTTPRoute"), meta.RESTScopeNamespace)
	return &Applier{Client: client, Mapper: resettable{mapper}}, client, gvr
}

func withVersion(o *unstructured.Unstructured, rv string) *unstructured.Unstructured {
	o.SetResourceVersion(rv)
	return o
}

type resettable struct{ *meta.DefaultRESTMapper }

func (resettable) Reset() {}
