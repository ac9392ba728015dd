package gitsync

import (
	"context"
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/sluice-dev/sluice/api/sluice/v1alpha1"
	"github.com/sluice-dev/sluice/sync/apply"
	"github.com/sluice-dev/sluice/sync/inventory"
)

// finalize runs when a GitSync is deleted: with automated prune it deletes what it applied (in
// reverse order, Prune=false objects kept), without it lets go of the objects by removing the
// ownership labels. Only objects that still carry this GitSync's labels are touched.
func (r *Reconciler) finalize(ctx context.Context, gs *v1alpha1.GitSync) (ctrl.Result, error) {
	key := types.NamespacedName{Namespace: gs.Namespace, Name: gs.Name}
	if !controllerutil.ContainsFinalizer(gs, Finalizer) {
		r.forget(ctx, key)
		return ctrl.Result{}, nil
	}
	sa := gs.Spec.ServiceAccountName
	if sa == "" {
		sa = r.DefaultServiceAccount
	}
	a, err := r.Clients.For(gs.Namespace, sa)
	if err != nil {
		return ctrl.Result{}, err
	}
	entries, err := inventory.FromStatus(gs.Status.Inventory)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("read the inventory of gitsync %s: %w", key, err)
	}
	prune := gs.Spec.Automated() != nil && gs.Spec.Automated().Prune
	slices.Reverse(entries)
	unlabel := []byte(fmt.Sprintf(`{"metadata":{"labels":{%q:null,%q:null}}}`, v1alpha1.LabelGitSyncName, v1alpha1.LabelGitSyncNamespace))
	logger := log.FromContext(ctx)
	for _, e := range entries {
		live, err := a.Get(ctx, e.GroupVersionKind(), e.ID.Namespace, e.ID.Name)
		if err != nil {
			return ctrl.Result{}, fmt.Errorf("finalize gitsync %s: %w", key, err)
		}
		if live == nil || !ownedBy(live, key) {
			continue
		}
		if prune && !apply.ObjectOption(live, "Prune", "false") {
			if err := a.Delete(ctx, e.GroupVersionKind(), e.ID.Namespace, e.ID.Name, live.GetUID()); err != nil {
				return ctrl.Result{}, fmt.Errorf("finalize gitsync %s: %w", key, err)
			}
			logger.Info("Deleted with its GitSync", "object", apply.Describe(e.ID))
			continue
		}
		if err := a.Patch(ctx, e.GroupVersionKind(), e.ID.Namespace, e.ID.Name, unlabel); err != nil {
			return ctrl.Result{}, fmt.Errorf("finalize gitsync %s: %w", key, err)
		}
	}
	controllerutil.RemoveFinalizer(gs, Finalizer)
	if err := r.Client.Update(ctx, gs); err != nil {
		return ctrl.Result{}, fmt.Errorf("remove the finalizer of gitsync %s: %w", key, err)
	}
	r.forget(ctx, key)
	return ctrl.Result{}, nil
}
