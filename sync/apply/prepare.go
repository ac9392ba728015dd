package apply

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sluice-dev/sluice/api/sluice/v1alpha1"
	"github.com/sluice-dev/sluice/sync/inventory"
)

// AnnotationDigest records, on every applied object, a digest of the object as Git rendered it. A
// live object whose digest differs was applied from other YAML (Git moved, or a field was removed
// from Git) and is re-applied even when every field Git sets still matches.
const AnnotationDigest = "sluice.dev/desired-digest"

// ScopeFunc says whether a kind is namespaced; an error when the cluster does not know the kind.
type ScopeFunc func(gvk schema.GroupVersionKind) (namespaced bool, err error)

// PrepareOptions say who owns the objects and where namespaced objects without a namespace go.
type PrepareOptions struct {
	Owner            types.NamespacedName
	DefaultNamespace string
	Scope            ScopeFunc
}

// Prepare readies rendered objects for applying, in place: the default namespace for namespaced
// objects that name none (and no namespace on cluster-scoped ones), the ownership labels, and the
// digest annotation. A kind the cluster does not know is looked up among the CustomResourceDefinitions
// of objs, so a CRD and its custom resources can arrive in one commit.
func Prepare(objs []*unstructured.Unstructured, opts PrepareOptions) error {
	crdScopes := scopesOfCRDs(objs)
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		namespaced, known := crdScopes[gvk.GroupKind()]
		if !known {
			var err error
			if namespaced, err = opts.Scope(gvk); err != nil {
				return fmt.Errorf("%s: %w", describe(inventory.Of(o)), err)
			}
		}
		switch {
		case !namespaced:
			o.SetNamespace("")
		case o.GetNamespace() == "":
			o.SetNamespace(opts.DefaultNamespace)
		}
		labels := o.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		labels[v1alpha1.LabelGitSyncName] = opts.Owner.Name
		labels[v1alpha1.LabelGitSyncNamespace] = opts.Owner.Namespace
		o.SetLabels(labels)
		digest, err := Digest(o)
		if err != nil {
			return fmt.Errorf("%s: %w", describe(inventory.Of(o)), err)
		}
		ann := o.GetAnnotations()
		if ann == nil {
			ann = map[string]string{}
		}
		ann[AnnotationDigest] = digest
		o.SetAnnotations(ann)
	}
	return nil
}

// Digest is a short hash of an object's content, without its digest annotation.
func Digest(o *unstructured.Unstructured) (string, error) {
	c := o.DeepCopy()
	if ann := c.GetAnnotations(); ann != nil {
		delete(ann, AnnotationDigest)
		if len(ann) == 0 {
			ann = nil
		}
		c.SetAnnotations(ann)
	}
	b, err := json.Marshal(c.Object) // encoding/json sorts map keys, so the digest is stable
	if err != nil {
		return "", fmt.Errorf("encode for digest: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12]), nil
}

// scopesOfCRDs maps the group and kind of every CRD in objs to whether it is namespaced.
func scopesOfCRDs(objs []*unstructured.Unstructured) map[schema.GroupKind]bool {
	out := map[schema.GroupKind]bool{}
	for _, o := range objs {
		if o.GroupVersionKind().GroupKind() != crdGroupKind {
			continue
		}
		group, _, _ := unstructured.NestedString(o.Object, "spec", "group")
		kind, _, _ := unstructured.NestedString(o.Object, "spec", "names", "kind")
		scope, _, _ := unstructured.NestedString(o.Object, "spec", "scope")
		if group != "" && kind != "" {
			out[schema.GroupKind{Group: group, Kind: kind}] = scope != "Cluster"
		}
	}
	return out
}

var crdGroupKind = schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}

// IsCRD reports whether o is a CustomResourceDefinition.
func IsCRD(o *unstructured.Unstructured) bool {
	return o.GroupVersionKind().GroupKind() == crdGroupKind
}

// ObjectOption reports whether an object's argocd.argoproj.io/sync-options annotation sets
// key=value (Prune=false, PruneLast=true, ...). Options are separated by commas.
func ObjectOption(o *unstructured.Unstructured, key, value string) bool {
	if o == nil {
		return false
	}
	for _, opt := range strings.Split(o.GetAnnotations()[v1alpha1.AnnotationSyncOptions], ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(opt), "=")
		if ok && strings.TrimSpace(k) == key && strings.EqualFold(strings.TrimSpace(v), value) {
			return true
		}
	}
	return false
}
