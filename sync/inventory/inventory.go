// Package inventory names the objects a GitSync applied and says which of them left Git. It is
// pure: no client, no I/O.
//
// An object's id is <namespace>_<name>_<group>_<kind>, the shape Flux's inventories use. Kubernetes
// names, namespaces, groups and kinds cannot hold an underscore, so the id splits back without
// ambiguity; a cluster-scoped object has an empty namespace and a core object an empty group
// (`default_web__Service`).
package inventory

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/sluice-dev/sluice/api/sluice/v1alpha1"
)

// ID names one object across API versions.
type ID struct {
	Namespace string
	Name      string
	Group     string
	Kind      string
}

// String is the inventory form of the id.
func (id ID) String() string {
	return id.Namespace + "_" + id.Name + "_" + id.Group + "_" + id.Kind
}

// GroupKind is the id's group and kind.
func (id ID) GroupKind() schema.GroupKind { return schema.GroupKind{Group: id.Group, Kind: id.Kind} }

// Parse reads an id written by ID.String.
func Parse(s string) (ID, error) {
	parts := strings.Split(s, "_")
	if len(parts) != 4 || parts[1] == "" || parts[3] == "" {
		return ID{}, fmt.Errorf("parse inventory id %q: want <namespace>_<name>_<group>_<kind>", s)
	}
	return ID{Namespace: parts[0], Name: parts[1], Group: parts[2], Kind: parts[3]}, nil
}

// Of is the id of an object.
func Of(obj *unstructured.Unstructured) ID {
	gvk := obj.GroupVersionKind()
	return ID{Namespace: obj.GetNamespace(), Name: obj.GetName(), Group: gvk.Group, Kind: gvk.Kind}
}

// Entry is one object of an inventory with the API version it was applied as.
type Entry struct {
	ID      ID
	Version string
}

// GroupVersionKind is the entry's full type.
func (e Entry) GroupVersionKind() schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: e.ID.Group, Version: e.Version, Kind: e.ID.Kind}
}

// FromObjects is the sorted inventory of objs; an object listed twice counts once.
func FromObjects(objs []*unstructured.Unstructured) []Entry {
	out := make([]Entry, 0, len(objs))
	for _, o := range objs {
		out = append(out, Entry{ID: Of(o), Version: o.GroupVersionKind().Version})
	}
	return normalize(out)
}

// FromStatus reads the inventory of a GitSync's status. An entry that does not parse is an error:
// it was not written by this package, and pruning by a guess is never safe.
func FromStatus(entries []v1alpha1.InventoryEntry) ([]Entry, error) {
	out := make([]Entry, 0, len(entries))
	for _, e := range entries {
		id, err := Parse(e.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, Entry{ID: id, Version: e.Version})
	}
	return normalize(out), nil
}

// ToStatus writes an inventory in the form of a GitSync's status, sorted by id.
func ToStatus(entries []Entry) []v1alpha1.InventoryEntry {
	entries = normalize(slices.Clone(entries))
	out := make([]v1alpha1.InventoryEntry, 0, len(entries))
	for _, e := range entries {
		out = append(out, v1alpha1.InventoryEntry{ID: e.ID.String(), Version: e.Version})
	}
	return out
}

// Diff returns the entries of old that are not in desired: the objects that left Git. An object
// whose API version changed is the same object and is not stale.
func Diff(old, desired []Entry) []Entry {
	keep := make(map[ID]bool, len(desired))
	for _, e := range desired {
		keep[e.ID] = true
	}
	var stale []Entry
	for _, e := range normalize(slices.Clone(old)) {
		if !keep[e.ID] {
			stale = append(stale, e)
		}
	}
	return stale
}

// Union is the sorted inventory of every entry of a and b; b's version wins for an id in both.
func Union(a, b []Entry) []Entry {
	return normalize(append(slices.Clone(b), a...))
}

// normalize sorts entries by id and keeps the first entry of each id.
func normalize(entries []Entry) []Entry {
	slices.SortStableFunc(entries, func(a, b Entry) int { return strings.Compare(a.ID.String(), b.ID.String()) })
	return slices.CompactFunc(entries, func(a, b Entry) bool { return a.ID == b.ID })
}
