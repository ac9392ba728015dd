package gitsync

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
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
	r.dropSynced(key) // self-heal must not put back what the finalizer prunes
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
	if err := r.releaseAll(ctx, a, entries, key, prune, unlabel); err != nil {
		if !apierrors.IsForbidden(unwrapAPI(err)) {
			return ctrl.Result{}, err
		}
		// The identity may no longer touch the objects (its namespace is going away and its
		// RoleBindings went first): waiting would keep the GitSync, and its namespace, forever.
		logger.Info("Could not clean up the objects of a deleted GitSync; leaving them", "error", err.Error())
		if r.Recorder != nil {
			r.Recorder.Eventf(gs, nil, corev1.EventTypeWarning, "FinalizeSkipped", "Delete", "left the applied objects as they are: %v", err)
		}
	}
	orig := gs.DeepCopy()
	controllerutil.RemoveFinalizer(gs, Finalizer)
	if err := r.Client.Patch(ctx, gs, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
		return ctrl.Result{}, fmt.Errorf("remove the finalizer of gitsync %s: %w", key, err)
	}
	r.forget(ctx, key)
	return ctrl.Result{}, nil
}

// releaseAll deletes (prune) or unlabels the inventory's objects that still carry key's labels.
func (r *Reconciler) releaseAll(ctx context.Context, a *apply.Applier, entries []inventory.Entry, key types.NamespacedName, prune bool, unlabel []byte) error {
	logger := log.FromContext(ctx)
	for _, e := range entries {
		live, err := a.Get(ctx, e.GroupVersionKind(), e.ID.Namespace, e.ID.Name)
		if err != nil {
			return fmt.Errorf("finalize gitsync %s: %w", key, err)
		}
		if live == nil || !ownedBy(live, key) {
			continue
		}
		if prune && !apply.ObjectOption(live, "Prune", "false") {
			if err := a.Delete(ctx, e.GroupVersionKind(), e.ID.Namespace, e.ID.Name, live.GetUID()); err != nil {
				return fmt.Errorf("finalize gitsync %s: %w", key, err)
			}
			logger.Info("Deleted with its GitSync", "object", apply.Describe(e.ID))
			continue
		}
		if err := a.Patch(ctx, e.GroupVersionKind(), e.ID.Namespace, e.ID.Name, unlabel); err != nil {
			return fmt.Errorf("finalize gitsync %s: %w", key, err)
		}
	}
	return nil
}
