package gitsync

import (
	"context"
	"errors"
	"io"
	"maps"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"

	"github.com/sluice-dev/sluice/api/sluice/v1alpha1"
	"github.com/sluice-dev/sluice/sync/inventory"
)

// liveWatch keeps one informer per group/version/kind that any GitSync's inventory holds, started
// when a kind first appears and stopped when no inventory holds it any more. Each lists and watches
// only objects that carry a GitSync's ownership label, so its memory grows with the managed objects,
// never with the cluster. It calls onChange for every change of a managed object after the initial
// list (the reconcile that tracked the kind has just compared those).
type liveWatch struct {
	client   dynamic.Interface
	mapper   meta.RESTMapper
	onChange func(owner types.NamespacedName, id inventory.ID)
	log      logr.Logger

	mu        sync.Mutex
	informers map[schema.GroupVersionKind]*kindWatch
	tracked   map[types.NamespacedName]map[schema.GroupVersionKind]bool
}

type kindWatch struct {
	informer cache.SharedIndexInformer
	stop     chan struct{}
	users    int
}

func newLiveWatch(client dynamic.Interface, mapper meta.RESTMapper, log logr.Logger, onChange func(types.NamespacedName, inventory.ID)) *liveWatch {
	return &liveWatch{client: client, mapper: mapper, log: log, onChange: onChange,
		informers: map[schema.GroupVersionKind]*kindWatch{}, tracked: map[types.NamespacedName]map[schema.GroupVersionKind]bool{}}
}

// Track sets the kinds a GitSync manages (nil when it is gone), starting and stopping informers.
func (w *liveWatch) Track(owner types.NamespacedName, kinds []schema.GroupVersionKind) {
	if w == nil {
		return
	}
	want := map[schema.GroupVersionKind]bool{}
	for _, k := range kinds {
		want[k] = true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	had := w.tracked[owner]
	for k := range want {
		if kw, ok := w.informers[k]; ok && kw.informer == nil && had[k] {
			// A kind that had no REST mapping when it was first tracked (its CRD came in the
			// same sync): this successful sync may have brought it.
			w.start(k, kw)
		}
	}
	if maps.Equal(had, want) {
		return
	}
	for k := range want {
		if !had[k] {
			w.acquire(k)
		}
	}
	for k := range had {
		if !want[k] {
			w.release(k)
		}
	}
	if len(want) == 0 {
		delete(w.tracked, owner)
	} else {
		w.tracked[owner] = want
	}
}

func (w *liveWatch) acquire(gvk schema.GroupVersionKind) {
	if kw, ok := w.informers[gvk]; ok {
		kw.users++
		if kw.informer == nil {
			w.start(gvk, kw)
		}
		return
	}
	kw := &kindWatch{users: 1}
	w.informers[gvk] = kw
	w.start(gvk, kw)
}

// start starts the informer of a kind; without a REST mapping (a kind the cluster does not serve
// yet) it leaves kw without one, and the reconciles on the interval still compare the kind, until
// a later Track finds the mapping.
func (w *liveWatch) start(gvk schema.GroupVersionKind, kw *kindWatch) {
	m, err := w.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		w.log.V(1).Info("Not watching a kind without a REST mapping", "kind", gvk.String(), "error", err.Error())
		return
	}
	inf := dynamicinformer.NewFilteredDynamicInformer(w.client, m.Resource, metav1.NamespaceAll, 0,
		cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc},
		func(o *metav1.ListOptions) { o.LabelSelector = v1alpha1.LabelGitSyncName }).Informer()
	_ = inf.SetTransform(trimManagedObject)
	// A list or watch that fails (the controller may not list the kind: a multi-tenant install
	// without sluice-sync-watch) is said in the controller's log, naming the kind, rather than
	// only in client-go's; until the informer has listed, the reconciles compare the kind.
	_ = inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
		if errors.Is(err, context.Canceled) {
			return // the watch is being stopped
		}
		if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			w.log.V(1).Info("Live watch restarts", "kind", gvk.String(), "error", err.Error())
			return
		}
		w.log.Info("Live watch cannot list or watch managed objects; drift of this kind is found on the interval until it can", "kind", gvk.String(), "error", err.Error())
	})
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerDetailedFuncs{
		AddFunc: func(obj any, initial bool) {
			if !initial {
				w.notify(obj)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			if changedBeyondStatus(oldObj, newObj) {
				w.notify(newObj)
			}
		},
		DeleteFunc: w.notify,
	}); err != nil {
		w.log.Error(err, "Add the event handler of a live watch", "kind", gvk.String())
	}
	kw.informer, kw.stop = inf, make(chan struct{})
	go inf.Run(kw.stop)
	w.log.Info("Watching managed objects", "kind", gvk.String())
}

func (w *liveWatch) release(gvk schema.GroupVersionKind) {
	kw, ok := w.informers[gvk]
	if !ok {
		return
	}
	if kw.users--; kw.users > 0 {
		return
	}
	if kw.stop != nil {
		close(kw.stop)
		w.log.Info("Stopped watching managed objects", "kind", gvk.String())
	}
	delete(w.informers, gvk)
}

// notify hands a changed or deleted managed object to onChange, as its owner and inventory id.
func (w *liveWatch) notify(obj any) {
	if u, owner, ok := ownedObject(obj); ok {
		w.onChange(owner, inventory.Of(u))
	}
}

// ownedObject is a watched object with the GitSync its ownership labels name.
func ownedObject(obj any) (*unstructured.Unstructured, types.NamespacedName, bool) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil, types.NamespacedName{}, false
	}
	l := u.GetLabels()
	owner := types.NamespacedName{Namespace: l[v1alpha1.LabelGitSyncNamespace], Name: l[v1alpha1.LabelGitSyncName]}
	return u, owner, owner.Name != ""
}

// Covers reports whether the kind is watched and its informer has listed: every change of its
// managed objects reaches onChange.
func (w *liveWatch) Covers(gvk schema.GroupVersionKind) bool { return w.listed(gvk) != nil }

// listed is the informer of a kind once it has listed, else nil.
func (w *liveWatch) listed(gvk schema.GroupVersionKind) cache.SharedIndexInformer {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	kw := w.informers[gvk]
	w.mu.Unlock()
	if kw == nil || kw.informer == nil || !kw.informer.HasSynced() {
		return nil
	}
	return kw.informer
}

// Get returns a managed object from the watch. known is false when the kind is not watched or its
// informer has not listed yet; then the caller cannot tell absent from unknown.
func (w *liveWatch) Get(gvk schema.GroupVersionKind, namespace, name string) (obj *unstructured.Unstructured, known bool) {
	inf := w.listed(gvk)
	if inf == nil {
		return nil, false
	}
	k := name
	if namespace != "" {
		k = namespace + "/" + name
	}
	item, exists, err := inf.GetStore().GetByKey(k)
	if err != nil || !exists {
		return nil, err == nil
	}
	u, _ := item.(*unstructured.Unstructured)
	return u, u != nil
}

// WaitSynced waits until the informers of kinds have listed, or ctx ends.
func (w *liveWatch) WaitSynced(ctx context.Context, kinds []schema.GroupVersionKind) bool {
	var synced []cache.InformerSynced
	w.mu.Lock()
	for _, k := range kinds {
		if kw := w.informers[k]; kw != nil && kw.informer != nil {
			synced = append(synced, kw.informer.HasSynced)
		}
	}
	w.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return cache.WaitForCacheSync(ctx.Done(), synced...)
}

// Stop stops every informer.
func (w *liveWatch) Stop() {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, kw := range w.informers {
		if kw.stop != nil {
			close(kw.stop)
		}
		delete(w.informers, k)
	}
	w.tracked = map[types.NamespacedName]map[schema.GroupVersionKind]bool{}
}

// changedBeyondStatus is false for an update that changed only status (a Deployment's pods
// becoming ready): the fields Git sets are outside status, so it cannot be drift. Objects without
// a generation (ConfigMaps, Services) are always compared.
func changedBeyondStatus(oldObj, newObj any) bool {
	o, ok1 := oldObj.(*unstructured.Unstructured)
	n, ok2 := newObj.(*unstructured.Unstructured)
	if !ok1 || !ok2 {
		return true
	}
	if n.GetGeneration() == 0 || n.GetGeneration() != o.GetGeneration() {
		return true
	}
	return !equality.Semantic.DeepEqual(o.GetLabels(), n.GetLabels()) ||
		!equality.Semantic.DeepEqual(o.GetAnnotations(), n.GetAnnotations())
}

// trimManagedObject drops what the comparison never reads from a cached object: the last-applied
// annotation of client-side apply (as large as the object).
func trimManagedObject(obj any) (any, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return obj, nil
	}
	if a := u.GetAnnotations(); a != nil {
		if _, ok := a[corev1LastApplied]; ok {
			a = maps.Clone(a)
			delete(a, corev1LastApplied)
			u.SetAnnotations(a)
		}
	}
	return u, nil
}

const corev1LastApplied = "kubectl.kubernetes.io/last-applied-configuration"
