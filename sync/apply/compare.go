package apply

import (
	"bytes"
	"fmt"
	pathpkg "path"
	"slices"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/sluice-dev/sluice/api/sluice/v1alpha1"
)

// Comparer decides whether live objects differ from Git, leaving out the fields other controllers
// own (Others) and the ones a GitSync's spec.ignoreDifferences names. Its zero value compares every
// field Git sets except the rollout controller's selector hash and managed-by annotation on
// Services and its hash labels on DestinationRule subsets.
type Comparer struct {
	Others *Others
	Ignore []v1alpha1.ResourceIgnoreDifferences
	// RespectIgnore keeps the live value of ignored fields when applying too
	// (syncOptions RespectIgnoreDifferences=true); without it an apply writes Git's value.
	RespectIgnore bool
}

// Drift reports whether live differs from desired on the fields Git sets and no other writer
// owns, and names those fields (JSON paths, at most 20). A nil live object is missing.
// It is pure and cheap (no API call), so it runs on every watch event.
func (c *Comparer) Drift(live, desired *unstructured.Unstructured) (bool, []string) {
	if live == nil {
		return true, []string{"(missing)"}
	}
	r := c.compare(live, desired)
	return r.drifted(), r.fields
}

// compare is the one comparison behind Drift and Diff: the fields other writers own and the
// ignored ones are left out of both objects, then compareObjects compares what is left. Diff reads
// the sides it returns, so it shows a change exactly when Drift finds one.
func (c *Comparer) compare(live, desired *unstructured.Unstructured) comparison {
	l, d := c.normalize(live, desired)
	return compareObjects(l, d)
}

// ForApply returns the object to apply for desired: desired itself, or, where live holds fields
// other controllers own (route weights, managed routes, replicas an HPA sets), a copy that carries
// live's values there, so a sync never resets what they set. desired is not modified.
//
// An owned field Git leaves out is left out of the apply too (server-side apply then leaves it to
// its owner), unless it sits inside a value the apply replaces whole that Git sets: a Service's
// spec.selector (an atomic map), a route's rules (atomic lists), Istio's lists. There the live value
// is filled in, or the apply would drop it: a selector {app: web} from Git keeps the live
// rollouts-pod-template-hash, a backendRef without a weight keeps the live weight.
//
// A copy carries live's resourceVersion, so applying it fails with a conflict if the object
// changed since live was read (Applier.ApplyFilled then reads it again).
func (c *Comparer) ForApply(desired, live *unstructured.Unstructured) *unstructured.Unstructured {
	if live == nil {
		return desired
	}
	f := c.Others.of(desired)
	if c.RespectIgnore {
		f.fields = append(f.fields, c.ignored(live, desired)...)
	}
	if len(f.fields) == 0 && len(f.managed) == 0 {
		return desired
	}
	out := desired.DeepCopy()
	src := live.DeepCopy().Object
	for _, m := range f.managed {
		strip(src, m.list.then(itemsNamed(m.names))) // align the lists Git and the cluster share
		strip(out.Object, m.list.then(itemsNamed(m.names)))
	}
	changed := false
	for _, p := range f.fields {
		if _, c := graft(out.Object, src, p, false); c {
			changed = true
		}
	}
	for _, m := range f.managed {
		if keepManagedItems(out.Object, live.Object, m) {
			changed = true
		}
	}
	if !changed && len(f.managed) == 0 {
		return desired
	}
	// The values came from this version of live: the apply is conditional on it (ApplyFilled).
	out.SetResourceVersion(live.GetResourceVersion())
	return out
}

// normalize returns copies of live and desired without the fields other writers own or the GitSync
// ignores.
func (c *Comparer) normalize(live, desired *unstructured.Unstructured) (*unstructured.Unstructured, *unstructured.Unstructured) {
	f := c.Others.of(desired)
	f.fields = append(f.fields, c.ignored(live, desired)...)
	if len(f.fields) == 0 && len(f.managed) == 0 {
		return live, desired
	}
	l, d := live.DeepCopy(), desired.DeepCopy()
	for _, m := range f.managed {
		strip(l.Object, m.list.then(itemsNamed(m.names)))
		strip(d.Object, m.list.then(itemsNamed(m.names)))
	}
	for _, p := range f.fields {
		strip(l.Object, p)
		strip(d.Object, p)
	}
	return l, d
}

// ignored returns the paths spec.ignoreDifferences names for this object: its JSON pointers, and
// the fields its managers own in live's managedFields.
func (c *Comparer) ignored(live, desired *unstructured.Unstructured) []path {
	var out []path
	for _, ig := range c.Ignore {
		if !ignoreSelects(ig, desired) {
			continue
		}
		for _, ptr := range ig.JSONPointers {
			if p, err := parsePointer(ptr); err == nil {
				out = append(out, p)
			}
		}
		if len(ig.ManagedFieldsManagers) > 0 && live != nil {
			out = append(out, managerFields(live, ig.ManagedFieldsManagers)...)
		}
	}
	return out
}

// ignoreSelects reports whether an ignoreDifferences entry names an object: group and kind exactly
// or as glob patterns ("*", "*.example.com"), as Argo CD matches them, and name and namespace when
// set, also as patterns (Argo CD compares those exactly; a Kubernetes name holds no glob
// character, so an exact name means the same in both).
func ignoreSelects(ig v1alpha1.ResourceIgnoreDifferences, o *unstructured.Unstructured) bool {
	gvk := o.GroupVersionKind()
	return globMatch(ig.Group, gvk.Group) && globMatch(ig.Kind, gvk.Kind) &&
		(ig.Name == "" || globMatch(ig.Name, o.GetName())) && (ig.Namespace == "" || globMatch(ig.Namespace, o.GetNamespace()))
}

// globMatch matches a value against a pattern of path.Match ("*" also matches a value with dots or
// slashes, such as a whole group); a malformed pattern matches only itself.
func globMatch(pattern, value string) bool {
	if pattern == value || pattern == "*" {
		return true
	}
	ok, err := pathpkg.Match(pattern, value)
	return err == nil && ok
}

// ValidateIgnore checks the JSON pointers of spec.ignoreDifferences; the error names the entry.
func ValidateIgnore(ignore []v1alpha1.ResourceIgnoreDifferences) error {
	for i, ig := range ignore {
		if ig.Kind == "" {
			return fmt.Errorf("spec.ignoreDifferences[%d].kind is required (\"*\" matches every kind)", i)
		}
		for field, pattern := range map[string]string{"group": ig.Group, "kind": ig.Kind, "name": ig.Name, "namespace": ig.Namespace} {
			if _, err := pathpkg.Match(pattern, ""); err != nil {
				return fmt.Errorf("spec.ignoreDifferences[%d].%s: %q is not a valid pattern: %w", i, field, pattern, err)
			}
		}
		for j, ptr := range ig.JSONPointers {
			if _, err := parsePointer(ptr); err != nil {
				return fmt.Errorf("spec.ignoreDifferences[%d].jsonPointers[%d]: %w", i, j, err)
			}
		}
	}
	return nil
}

// managerFields are the leaf fields the named managers own in live's managedFields.
func managerFields(live *unstructured.Unstructured, managers []string) []path {
	var out []path
	for _, mf := range live.GetManagedFields() {
		if mf.Subresource == "status" || !slices.Contains(managers, mf.Manager) || mf.FieldsV1 == nil {
			continue
		}
		set := &fieldpath.Set{}
		if err := set.FromJSON(bytes.NewReader(mf.FieldsV1.GetRawBytes())); err != nil {
			continue
		}
		set.Leaves().Iterate(func(fp fieldpath.Path) {
			if p := fromFieldPath(fp); p != nil {
				out = append(out, p)
			}
		})
	}
	return out
}

func fromFieldPath(fp fieldpath.Path) path {
	p := make(path, 0, len(fp))
	for _, pe := range fp {
		switch {
		case pe.FieldName != nil:
			p = append(p, key(*pe.FieldName))
		case pe.Key != nil:
			m := map[string]any{}
			for _, f := range *pe.Key {
				m[f.Name] = f.Value.Unstructured()
			}
			p = append(p, step{keyed: m, index: -1})
		case pe.Value != nil:
			p = append(p, step{value: (*pe.Value).Unstructured(), hasValue: true, index: -1})
		case pe.Index != nil:
			p = append(p, step{index: *pe.Index})
		default:
			return nil
		}
	}
	return p
}

// keepManagedItems puts live's managed items (the rollout controller's header and mirror routes)
// at the head of desired's list, in live's order, as the rollout controller places them.
func keepManagedItems(desired, live map[string]any, m managedItems) bool {
	lv, ok := lookup(live, m.list)
	if !ok {
		return false
	}
	liveItems, _ := lv.([]any)
	var kept []any
	for _, it := range liveItems {
		if itemsNamed(m.names).selects(0, it) {
			kept = append(kept, deepCopyJSON(it))
		}
	}
	if len(kept) == 0 {
		return false
	}
	parent, ok := lookup(desired, m.list[:len(m.list)-1])
	pm, _ := parent.(map[string]any)
	if !ok || pm == nil {
		return false
	}
	last := m.list[len(m.list)-1].key
	rest, isList := pm[last].([]any)
	if !isList {
		return false // Git does not set the list: the apply leaves it to the rollout controller
	}
	pm[last] = append(kept, rest...)
	return true
}

// LastOtherManager names the field manager, other than the sync's, that wrote live last: the one a
// fight over a field is with. It is "" when only the sync wrote it.
func LastOtherManager(live *unstructured.Unstructured) string {
	entries := slices.Clone(live.GetManagedFields())
	sort.SliceStable(entries, func(i, j int) bool { return timeOf(entries[i]).After(timeOf(entries[j]).Time) })
	for _, mf := range entries {
		if mf.Manager != FieldManager && mf.Subresource != "status" {
			return mf.Manager
		}
	}
	return ""
}

func timeOf(mf metav1.ManagedFieldsEntry) metav1.Time {
	if mf.Time == nil {
		return metav1.Time{}
	}
	return *mf.Time
}
