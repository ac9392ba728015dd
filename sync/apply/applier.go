package apply

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"

	"github.com/sluice-dev/sluice/sync/inventory"
)

// FieldManager is the field manager of every write the sync makes.
const FieldManager = "sluice-sync"

// Applier writes objects with server-side apply as FieldManager, through one identity (the
// controller's, or a GitSync's impersonated ServiceAccount).
type Applier struct {
	Client dynamic.Interface
	Mapper meta.ResettableRESTMapper
	// Concurrency bounds the writes in flight of ApplyAll; 8 when zero.
	Concurrency int
}

// Outcome is what applying one object gave.
type Outcome struct {
	// Live is the object as the API server returned it; nil on error.
	Live *unstructured.Unstructured
	Err  error
}

// resource finds the REST resource of a kind, refreshing the mapping once when the kind is new
// (a CRD applied a moment ago).
func (a *Applier) resource(gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	m, err := a.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		a.Mapper.Reset()
		m, err = a.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		if meta.IsNoMatchError(err) {
			return nil, fmt.Errorf("the cluster has no kind %s in %s (is its CustomResourceDefinition installed?): %w", gvk.Kind, gvk.GroupVersion(), errNoKind)
		}
		return nil, fmt.Errorf("find the resource of %s: %w", gvk, err)
	}
	return m, nil
}

// Scope reports whether a kind is namespaced (a ScopeFunc).
func (a *Applier) Scope(gvk schema.GroupVersionKind) (bool, error) {
	m, err := a.resource(gvk)
	if err != nil {
		return false, err
	}
	return m.Scope.Name() == meta.RESTScopeNameNamespace, nil
}

// ResetMapping forgets the cached REST mapping, after CRDs were established.
func (a *Applier) ResetMapping() { a.Mapper.Reset() }

func (a *Applier) client(gvk schema.GroupVersionKind, namespace string) (dynamic.ResourceInterface, error) {
	m, err := a.resource(gvk)
	if err != nil {
		return nil, err
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return a.Client.Resource(m.Resource).Namespace(namespace), nil
	}
	return a.Client.Resource(m.Resource), nil
}

// Apply server-side applies one object, taking over fields other managers set (Git wins).
func (a *Applier) Apply(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	c, err := a.client(obj.GroupVersionKind(), obj.GetNamespace())
	if err != nil {
		return nil, err
	}
	live, err := c.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
	if err != nil {
		return nil, fmt.Errorf("apply %s: %w", describe(inventory.Of(obj)), err)
	}
	return live, nil
}

// Fill makes the object to apply from Git's object and the live one (Comparer.ForApply).
type Fill func(desired, live *unstructured.Unstructured) *unstructured.Unstructured

// Pending is one object to apply: Git's object and the live one it was compared with (nil when
// missing).
type Pending struct {
	Desired, Live *unstructured.Unstructured
}

// conflictAttempts bounds the applies of ApplyFilled when another writer keeps changing the
// object between the read and the write.
const conflictAttempts = 5

// ApplyFilled applies what fill makes of desired and live. When fill carried values over from live
// (the rollout controller's weights, an HPA's replicas), the object it returns holds live's
// resourceVersion and the apply is conditional on it: if the owner wrote in between, the API
// server refuses with a conflict and the object is read again and filled again (after a short
// wait that grows with each attempt), so a sync never writes back a value that was current a
// moment ago and is not any more. An object deleted in between is applied as Git has it.
func (a *Applier) ApplyFilled(ctx context.Context, p Pending, fill Fill) (*unstructured.Unstructured, error) {
	obj := fill(p.Desired, p.Live)
	for attempt := 1; ; attempt++ {
		out, err := a.Apply(ctx, obj)
		// Conditional only when the version came from live, not from Git (an exported manifest).
		conditional := obj.GetResourceVersion() != "" && obj.GetResourceVersion() != p.Desired.GetResourceVersion()
		if err == nil || !conditional {
			return out, err
		}
		if attempt == conflictAttempts {
			if apierrors.IsConflict(err) {
				return nil, fmt.Errorf("%w (the apply keeps the values other controllers own and is conditional on the version it read; the object changed before each of %d attempts)", err, attempt)
			}
			return nil, err
		}
		live, gerr := a.Get(ctx, p.Desired.GroupVersionKind(), p.Desired.GetNamespace(), p.Desired.GetName())
		if gerr != nil {
			return nil, fmt.Errorf("%w; then reading it again: %w", err, gerr)
		}
		if !apierrors.IsConflict(err) && live != nil {
			// Not a conflict and the object is still there: the refusal is about the object.
			return nil, err
		}
		// A conflict, or another error with the object gone meanwhile (some kinds refuse a
		// create that carries a resourceVersion): fill again from what is there now.
		obj = fill(p.Desired, live)
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(time.Duration(attempt) * time.Duration(5+rand.IntN(10)) * time.Millisecond):
		}
	}
}

// ApplyAll applies the pending objects concurrently, at most Concurrency at once, each through
// ApplyFilled; outcomes are in ps' order.
func (a *Applier) ApplyAll(ctx context.Context, ps []Pending, fill Fill) []Outcome {
	out := make([]Outcome, len(ps))
	n := a.Concurrency
	if n <= 0 {
		n = 8
	}
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for i, p := range ps {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			live, err := a.ApplyFilled(ctx, p, fill)
			out[i] = Outcome{Live: live, Err: err}
		}()
	}
	wg.Wait()
	return out
}

// Create creates an object (hooks, which may use generateName) and returns it as created.
func (a *Applier) Create(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	c, err := a.client(obj.GroupVersionKind(), obj.GetNamespace())
	if err != nil {
		return nil, err
	}
	live, err := c.Create(ctx, obj, metav1.CreateOptions{FieldManager: FieldManager})
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", describe(inventory.Of(obj)), err)
	}
	return live, nil
}

// Get reads one object; nil without error when it does not exist (or its kind does not).
func (a *Applier) Get(ctx context.Context, gvk schema.GroupVersionKind, namespace, name string) (*unstructured.Unstructured, error) {
	c, err := a.client(gvk, namespace)
	if err != nil {
		if isNoKind(err) {
			return nil, nil
		}
		return nil, err
	}
	live, err := c.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get %s %s/%s: %w", gvk.Kind, namespace, name, err)
	}
	return live, nil
}

// List lists the objects of a kind in a namespace ("" for all, or for cluster-scoped kinds) that
// match a label selector. A kind the cluster does not know has no objects.
func (a *Applier) List(ctx context.Context, gvk schema.GroupVersionKind, namespace, selector string) ([]unstructured.Unstructured, error) {
	c, err := a.client(gvk, namespace)
	if err != nil {
		if isNoKind(err) {
			return nil, nil
		}
		return nil, err
	}
	list, err := c.List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		if apierrors.IsNotFound(err) { // the kind went away between discovery and the list
			return nil, nil
		}
		return nil, fmt.Errorf("list %s in %q: %w", gvk.Kind, namespace, err)
	}
	return list.Items, nil
}

// Delete deletes an object in the background; one already gone is not an error. When uid is set
// the delete only happens if the object is still that one.
func (a *Applier) Delete(ctx context.Context, gvk schema.GroupVersionKind, namespace, name string, uid types.UID) error {
	c, err := a.client(gvk, namespace)
	if err != nil {
		if isNoKind(err) {
			return nil
		}
		return err
	}
	opts := metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)}
	if uid != "" {
		opts.Preconditions = &metav1.Preconditions{UID: &uid}
	}
	err = c.Delete(ctx, name, opts)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete %s %s: %w", gvk.Kind, joinName(namespace, name), err)
	}
	return nil
}

// Patch sends a merge patch (used to drop ownership labels when a GitSync lets go of an object).
func (a *Applier) Patch(ctx context.Context, gvk schema.GroupVersionKind, namespace, name string, patch []byte) error {
	c, err := a.client(gvk, namespace)
	if err != nil {
		if isNoKind(err) {
			return nil
		}
		return err
	}
	_, err = c.Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: FieldManager})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("patch %s %s: %w", gvk.Kind, joinName(namespace, name), err)
	}
	return nil
}

func isNoKind(err error) bool {
	return meta.IsNoMatchError(err) || errors.Is(err, errNoKind)
}

var errNoKind = errors.New("no such kind")

func joinName(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}
