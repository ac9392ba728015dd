package inventory

import (
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sluice-dev/sluice/api/sluice/v1alpha1"
)

func obj(apiVersion, kind, ns, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

func TestIDRoundTrip(t *testing.T) {
	for _, id := range []ID{
		{Namespace: "shop", Name: "web", Group: "apps", Kind: "Deployment"},
		{Namespace: "shop", Name: "web", Kind: "Service"},
		{Name: "shop", Kind: "Namespace"},
		{Name: "rollouts.argoproj.io", Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"},
	} {
		got, err := Parse(id.String())
		if err != nil || got != id {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", id.String(), got, err, id)
		}
	}
	if got := (ID{Namespace: "shop", Name: "web", Kind: "Service"}).String(); got != "shop_web__Service" {
		t.Errorf("core id = %q", got)
	}
	for _, bad := range []string{"", "a_b_c", "a__g_K", "a_b_g_", "a_b_c_d_e"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted a malformed id", bad)
		}
	}
}

func TestFromObjectsSortsAndDeduplicates(t *testing.T) {
	got := ToStatus(FromObjects([]*unstructured.Unstructured{
		obj("v1", "Service", "shop", "web"),
		obj("apps/v1", "Deployment", "shop", "web"),
		obj("v1", "ConfigMap", "shop", "a"),
		obj("v1", "Service", "shop", "web"),
		obj("v1", "Namespace", "", "shop"),
	}))
	want := []v1alpha1.InventoryEntry{
		{ID: "_shop__Namespace", Version: "v1"},
		{ID: "shop_a__ConfigMap", Version: "v1"},
		{ID: "shop_web__Service", Version: "v1"},
		{ID: "shop_web_apps_Deployment", Version: "v1"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("inventory = %v\nwant        %v", got, want)
	}
}

func TestDiff(t *testing.T) {
	old := FromObjects([]*unstructured.Unstructured{
		obj("v1", "ConfigMap", "shop", "kept"),
		obj("v1", "ConfigMap", "shop", "gone"),
		obj("autoscaling/v1", "HorizontalPodAutoscaler", "shop", "web"),
		obj("v1", "Namespace", "", "old"),
	})
	desired := FromObjects([]*unstructured.Unstructured{
		obj("v1", "ConfigMap", "shop", "kept"),
		obj("autoscaling/v2", "HorizontalPodAutoscaler", "shop", "web"), // a new version is the same object
		obj("v1", "ConfigMap", "shop", "new"),
	})
	got := ToStatus(Diff(old, desired))
	want := []v1alpha1.InventoryEntry{{ID: "_old__Namespace", Version: "v1"}, {ID: "shop_gone__ConfigMap", Version: "v1"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stale = %v, want %v", got, want)
	}
	if stale := Diff(nil, desired); len(stale) != 0 {
		t.Errorf("nothing applied before, yet stale = %v", stale)
	}
	if stale := Diff(old, old); len(stale) != 0 {
		t.Errorf("same inventory, yet stale = %v", stale)
	}
	if stale := Diff(old, nil); len(stale) != len(old) {
		t.Errorf("empty desired: %d stale, want all %d", len(stale), len(old))
	}
}

func TestStatusRoundTripAndUnion(t *testing.T) {
	in := []v1alpha1.InventoryEntry{{ID: "shop_b__ConfigMap", Version: "v1"}, {ID: "shop_a__ConfigMap", Version: "v1"}}
	entries, err := FromStatus(in)
	if err != nil {
		t.Fatal(err)
	}
	if got := ToStatus(entries); got[0].ID != "shop_a__ConfigMap" || len(got) != 2 {
		t.Errorf("round trip = %v", got)
	}
	if _, err := FromStatus([]v1alpha1.InventoryEntry{{ID: "garbage"}}); err == nil {
		t.Error("a malformed status inventory was accepted")
	}
	u := Union(entries, []Entry{{ID: ID{Namespace: "shop", Name: "a", Kind: "ConfigMap"}, Version: "v2"}})
	if len(u) != 2 || u[0].Version != "v2" {
		t.Errorf("union = %v; want 2 entries with b's version for a", u)
	}
}
