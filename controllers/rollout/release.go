package rollout

// Releasing what no Rollout references any more (docs/rollout.md, "Releasing objects"). A
// Rollout marks the Services it points at, and the DestinationRule whose subsets it labels, with
// the managed-by annotation, and writes the pod-template hash into them (a selector key, subset
// labels). When no Rollout references such an object any more (its Rollout was deleted, or
// switched to other Services or to no traffic routing), both are taken out again, so the object
// selects what its owner wrote. The question is asked from both sides: the Rollout the
// annotation names is reconciled whenever a marked object changes (and so for every marked
// object when the controller starts), and every reconcile of a Rollout, live, being deleted or
// gone, releases the objects marked with its name that nothing references. No finalizer is
// involved: nothing here can hold up the deletion of a Rollout or of its namespace.
//
// Routes (VirtualServices, HTTPRoutes, GRPCRoutes) carry no mark. When a Rollout is deleted, its
// routes are put back at rest (canary weight 0, no managed header or mirror routes) from the
// Rollout itself while it is being deleted, or from the last state the watch delivered with its
// deletion; that last state is kept in memory only, for releaseGiveUp.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/trafficrouting"
	"github.com/sluice-dev/sluice/trafficrouting/routers"
)

// releaseGiveUp is how long the routes of a deleted Rollout are retried after a failure. Past
// it the Rollout's last state is dropped and the routes stay as they are (a warning is logged).
const releaseGiveUp = 5 * time.Minute

// releaser is what the release of unreferenced objects keeps between reconciles.
type releaser struct {
	// destinationRules is set when the DestinationRule kind is installed, watched and indexed.
	destinationRules bool
	// departed holds the last state of deleted Rollouts whose routes are still to be put at rest.
	departed sync.Map // types.NamespacedName -> departure
}

// departure is a deleted Rollout as the watch last saw it, and when it was deleted.
type departure struct {
	rollout *v1alpha1.Rollout
	at      time.Time
}

// releaseGone releases what the Rollout key names referenced, once it is gone: with the state
// its deletion event carried, its routes and the Services and DestinationRule it named; in any
// case, the objects marked with its name.
func (r *Reconciler) releaseGone(ctx context.Context, key types.NamespacedName) error {
	if _, ok := r.released.departed.Load(key); ok {
		return r.releaseDeparted(ctx, key)
	}
	return r.releaseMarked(ctx, key.Namespace, key.Name, nil)
}

// releaseDeleting releases what a Rollout that is being deleted references: its routes, then its
// Services and DestinationRule. Its ReplicaSets are being garbage collected meanwhile; nothing
// here waits for them.
func (r *Reconciler) releaseDeleting(ctx context.Context, ro *v1alpha1.Rollout) error {
	if err := r.releaseRoutes(ctx, ro); err != nil {
		return err
	}
	return r.releaseMarked(ctx, ro.Namespace, ro.Name, ro)
}

// releaseUnreferenced releases the objects marked with a live Rollout's name that it (and every
// other Rollout) no longer references, and what an earlier Rollout of the same name, deleted
// since, referenced and nothing references now.
func (r *Reconciler) releaseUnreferenced(ctx context.Context, ro *v1alpha1.Rollout) error {
	key := types.NamespacedName{Namespace: ro.Namespace, Name: ro.Name}
	return errors.Join(r.releaseDeparted(ctx, key), r.releaseMarked(ctx, ro.Namespace, ro.Name, nil))
}

// releaseDeparted releases, from the state its deletion event carried, what a deleted Rollout
// referenced (releaseDeleting), if that state is kept. A failure is retried until releaseGiveUp
// has passed since the deletion; then the state is dropped (the objects marked with the
// Rollout's name are still released by later reconciles of its name).
func (r *Reconciler) releaseDeparted(ctx context.Context, key types.NamespacedName) error {
	v, ok := r.released.departed.Load(key)
	if !ok {
		return nil
	}
	d := v.(departure)
	err := errors.Join(r.releaseRoutes(ctx, d.rollout), r.releaseMarked(ctx, key.Namespace, key.Name, d.rollout))
	if err != nil && r.now().Sub(d.at) < releaseGiveUp {
		return err
	}
	if err != nil {
		log.FromContext(ctx).Error(err, "Giving up releasing what a deleted Rollout referenced", "rollout", key.String())
	}
	r.released.departed.CompareAndDelete(key, v)
	return nil
}

// releaseMarked releases every Service and DestinationRule of namespace that carries the
// managed-by annotation and that no Rollout, other than one being deleted, references: those
// whose annotation names rollout, and those last (a Rollout being deleted, or the last state of
// a deleted one) names.
func (r *Reconciler) releaseMarked(ctx context.Context, namespace, rollout string, last *v1alpha1.Rollout) error {
	svcs, err := r.markedServices(ctx, namespace, rollout, last)
	if err != nil {
		return err
	}
	var errs []error
	for _, svc := range svcs {
		used, err := r.referenced(ctx, namespace, serviceIndex, svc.Name)
		if err != nil || used {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, r.releaseService(ctx, svc))
	}
	if !r.released.destinationRules {
		return errors.Join(errs...)
	}
	drs, err := r.markedDestinationRules(ctx, namespace, rollout, last)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, dr := range drs {
		k, _ := routers.KeyOf(dr)
		used, err := r.referenced(ctx, "", routers.IndexField, k)
		if err != nil || used {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, r.releaseDestinationRule(ctx, dr))
	}
	return errors.Join(errs...)
}

// markedServices lists the Services of namespace marked with rollout's name, and the marked
// Services last names.
func (r *Reconciler) markedServices(ctx context.Context, namespace, rollout string, last *v1alpha1.Rollout) ([]*corev1.Service, error) {
	var list corev1.ServiceList
	if err := r.Client.List(ctx, &list, client.InNamespace(namespace), client.MatchingFields{managedByIndex: rollout}); err != nil {
		return nil, fmt.Errorf("list Services managed by rollout %s: %w", rollout, err)
	}
	var out []*corev1.Service
	seen := map[string]bool{}
	for i := range list.Items {
		out = append(out, &list.Items[i])
		seen[list.Items[i].Name] = true
	}
	if last == nil {
		return out, nil
	}
	for _, name := range serviceNames(last) {
		svc := &corev1.Service{}
		err := r.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, svc)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("get Service %s: %w", name, err)
		}
		if !seen[name] && len(managedByKey(svc)) > 0 {
			out = append(out, svc)
			seen[name] = true
		}
	}
	return out, nil
}

// markedDestinationRules lists the DestinationRules of namespace marked with rollout's name, and
// the marked DestinationRule last names.
func (r *Reconciler) markedDestinationRules(ctx context.Context, namespace, rollout string, last *v1alpha1.Rollout) ([]*istionetworkingv1.DestinationRule, error) {
	var list istionetworkingv1.DestinationRuleList
	if err := r.Client.List(ctx, &list, client.InNamespace(namespace), client.MatchingFields{managedByIndex: rollout}); err != nil {
		return nil, fmt.Errorf("list DestinationRules managed by rollout %s: %w", rollout, err)
	}
	out := list.Items
	if last == nil {
		return out, nil
	}
	for _, ref := range routers.References(last) {
		if ref.Kind != "DestinationRule" || slices.ContainsFunc(out, func(d *istionetworkingv1.DestinationRule) bool { return d.Name == ref.Name }) {
			continue
		}
		dr := &istionetworkingv1.DestinationRule{}
		err := r.Client.Get(ctx, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, dr)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("get DestinationRule %s: %w", ref.Name, err)
		}
		if len(managedByKey(dr)) > 0 {
			out = append(out, dr)
		}
	}
	return out, nil
}

// referenced reports whether a Rollout that is not being deleted names value in index (in
// namespace, or anywhere when namespace is empty).
func (r *Reconciler) referenced(ctx context.Context, namespace, index, value string) (bool, error) {
	var list v1alpha1.RolloutList
	opts := []client.ListOption{client.MatchingFields{index: value}}
	if namespace != "" {
		opts = append(opts, client.InNamespace(namespace))
	}
	if err := r.Client.List(ctx, &list, opts...); err != nil {
		return false, fmt.Errorf("list Rollouts referencing %s: %w", value, err)
	}
	for i := range list.Items {
		if list.Items[i].DeletionTimestamp == nil {
			return true, nil
		}
	}
	return false, nil
}

// releaseService takes the pod-template-hash selector key and the managed-by annotation out of a
// Service; its other selector keys stay. The patch carries the resourceVersion read: a Service
// changed meanwhile (another Rollout took it) is not written, and its watch event brings the
// question back.
func (r *Reconciler) releaseService(ctx context.Context, svc *corev1.Service) error {
	orig := svc.DeepCopy()
	delete(svc.Annotations, v1alpha1.ManagedByRolloutsAnnotationKey)
	delete(svc.Spec.Selector, v1alpha1.PodTemplateHashLabelKey)
	err := r.Client.Patch(ctx, svc, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{}))
	switch {
	case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
		return nil
	case err != nil:
		return fmt.Errorf("release Service %s no Rollout references (remove its %s selector and managed-by annotation): %w",
			svc.Name, v1alpha1.PodTemplateHashLabelKey, err)
	}
	log.FromContext(ctx).Info("Released Service no Rollout references", "service", svc.Name,
		"managedBy", orig.Annotations[v1alpha1.ManagedByRolloutsAnnotationKey], "selector", svc.Spec.Selector)
	return nil
}

// releaseDestinationRule takes the managed-by annotation and the pod-template-hash label of every
// subset out of a DestinationRule, as Argo Rollouts does.
func (r *Reconciler) releaseDestinationRule(ctx context.Context, dr *istionetworkingv1.DestinationRule) error {
	owner := dr.Annotations[v1alpha1.ManagedByRolloutsAnnotationKey]
	changed, err := trafficrouting.Rewrite(ctx, r.Client, client.ObjectKeyFromObject(dr),
		func() *istionetworkingv1.DestinationRule { return &istionetworkingv1.DestinationRule{} },
		func(d *istionetworkingv1.DestinationRule) (bool, error) { return unmarkDestinationRule(d, owner), nil })
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("release DestinationRule %s no Rollout references (remove its subsets' %s labels and managed-by annotation): %w",
			dr.Name, v1alpha1.PodTemplateHashLabelKey, err)
	}
	if changed {
		log.FromContext(ctx).Info("Released DestinationRule no Rollout references", "destinationRule", dr.Name, "managedBy", owner)
	}
	return nil
}

// unmarkDestinationRule removes the managed-by annotation and every subset's pod-template-hash
// label, when the annotation still names owner (another Rollout may have taken the rule since it
// was read). It reports whether it changed anything.
func unmarkDestinationRule(dr *istionetworkingv1.DestinationRule, owner string) bool {
	if current, ok := dr.Annotations[v1alpha1.ManagedByRolloutsAnnotationKey]; !ok || current != owner {
		return false
	}
	delete(dr.Annotations, v1alpha1.ManagedByRolloutsAnnotationKey)
	for _, s := range dr.Spec.GetSubsets() {
		delete(s.Labels, v1alpha1.PodTemplateHashLabelKey)
	}
	return true
}

// releaseRoutes puts the routes ro's traffic routing names at rest: all traffic on the stable
// Service (canary weight 0), and no managed header or mirror routes. The routes keep both
// backends, as their owner wrote them. Routes another Rollout (not being deleted) references are
// left to it. A route or routing kind that does not exist, or a routing block that never was
// valid, has nothing to release.
func (r *Reconciler) releaseRoutes(ctx context.Context, ro *v1alpha1.Rollout) error {
	c := ro.Spec.Strategy.Canary
	if c == nil || c.TrafficRouting == nil {
		return nil
	}
	for _, ref := range routers.References(ro) {
		if ref.Kind == "DestinationRule" {
			continue // marked: releaseMarked takes care of it
		}
		used, err := r.referenced(ctx, "", routers.IndexField, ref.Key())
		if err != nil {
			return err
		}
		if used {
			log.FromContext(ctx).Info("Route is referenced by another Rollout; leaving it to that one", "route", ref.Key())
			return nil
		}
	}
	rts, err := routers.New(r.Client, ro)
	if err != nil {
		return nil // an invalid block: the Rollout never routed with it
	}
	maxWeight := c.TrafficRouting.GetMaxTrafficWeight()
	rest := trafficrouting.Weights{
		Canary: trafficrouting.WeightDestination{ServiceName: c.CanaryService, Weight: 0},
		Stable: trafficrouting.WeightDestination{ServiceName: c.StableService, Weight: maxWeight},
	}
	var errs []error
	for _, rt := range rts {
		err := rt.SetWeight(ctx, rest)
		if err == nil {
			err = rt.RemoveManagedRoutes(ctx)
		}
		if err != nil && (trafficrouting.IsConfigError(err) || meta.IsNoMatchError(err)) {
			log.FromContext(ctx).Info("Routes of a Rollout no longer there left as they are", "router", rt.Name(), "reason", err.Error())
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("put routes at rest (canary weight 0, no managed routes) with %s: %w", rt.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// managedByIndex indexes Services and DestinationRules by the Rollout their managed-by annotation
// names.
const managedByIndex = "sluice.managedBy"

func managedByKey(obj client.Object) []string {
	if name := obj.GetAnnotations()[v1alpha1.ManagedByRolloutsAnnotationKey]; name != "" {
		return []string{name}
	}
	return nil
}

// byManagedBy maps an event on a marked object to the Rollout its annotation names, so that the
// Rollout (gone or not) is asked whether it still references it: on every change of the object,
// and for every marked object when the controller starts and its cache fills.
func byManagedBy() handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(_ context.Context, obj client.Object) []reconcile.Request {
		keys := managedByKey(obj)
		if len(keys) == 0 {
			return nil
		}
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: keys[0]}}}
	})
}

// departures keeps the last state of each deleted Rollout, for releaseDeparted, and enqueues it
// (after storing it, so that the reconcile sees it).
func (r *Reconciler) departures() handler.EventHandler {
	return handler.Funcs{DeleteFunc: func(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		ro, ok := e.Object.(*v1alpha1.Rollout)
		if !ok {
			return
		}
		key := types.NamespacedName{Namespace: ro.Namespace, Name: ro.Name}
		r.released.departed.Store(key, departure{rollout: ro.DeepCopy(), at: r.now()})
		q.Add(reconcile.Request{NamespacedName: key})
	}}
}

// watchReleases indexes Services (and DestinationRules, when installed) by their managed-by
// annotation and adds the watches the release needs.
func (r *Reconciler) watchReleases(mgr ctrl.Manager, b *builder.Builder) (*builder.Builder, error) {
	ctx := context.Background()
	idx := mgr.GetFieldIndexer()
	if err := idx.IndexField(ctx, &corev1.Service{}, managedByIndex, managedByKey); err != nil {
		return nil, fmt.Errorf("index Services by managing Rollout: %w", err)
	}
	b = b.Watches(&corev1.Service{}, byManagedBy()).Watches(&v1alpha1.Rollout{}, r.departures())
	if !installed(mgr, &istionetworkingv1.DestinationRule{}) {
		return b, nil
	}
	if err := idx.IndexField(ctx, &istionetworkingv1.DestinationRule{}, managedByIndex, managedByKey); err != nil {
		return nil, fmt.Errorf("index DestinationRules by managing Rollout: %w", err)
	}
	r.released.destinationRules = true
	return b.Watches(&istionetworkingv1.DestinationRule{}, byManagedBy()), nil
}

// installed reports whether the scheme knows obj's kind and the cluster serves it (as
// watchRoutes decides which routing kinds to watch).
func installed(mgr ctrl.Manager, obj client.Object) bool {
	gvk, err := apiutil.GVKForObject(obj, mgr.GetScheme())
	if err != nil {
		return false
	}
	_, err = mgr.GetRESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version)
	return !meta.IsNoMatchError(err)
}
