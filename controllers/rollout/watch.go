package rollout

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/trafficrouting/routers"
)

const (
	// ownerIndex indexes ReplicaSets and AnalysisRuns by the UID of their controller.
	ownerIndex = "sluice.controller"
	// orphanKey is the ownerIndex value of objects without a controller.
	orphanKey = "<none>"
	// serviceIndex indexes Rollouts by the Services their strategy names.
	serviceIndex = "sluice.services"
	// workloadIndex indexes Rollouts by the Deployment their workloadRef names.
	workloadIndex = "sluice.workload"
	// templateIndex indexes Rollouts by the analysis templates they name: the template name, or
	// "cluster/<name>" for a ClusterAnalysisTemplate.
	templateIndex = "sluice.templates"
)

// templateKeys lists the analysis templates a Rollout names.
func templateKeys(obj client.Object) []string {
	ro := obj.(*v1alpha1.Rollout)
	var refs []v1alpha1.AnalysisTemplateRef
	if c := ro.Spec.Strategy.Canary; c != nil {
		for _, s := range c.Steps {
			if s.Analysis != nil {
				refs = append(refs, s.Analysis.Templates...)
			}
		}
		if c.Analysis != nil {
			refs = append(refs, c.Analysis.Templates...)
		}
	}
	if b := ro.Spec.Strategy.BlueGreen; b != nil {
		for _, a := range []*v1alpha1.RolloutAnalysis{b.PrePromotionAnalysis, b.PostPromotionAnalysis} {
			if a != nil {
				refs = append(refs, a.Templates...)
			}
		}
	}
	var keys []string
	for _, r := range refs {
		if r.ClusterScope {
			keys = append(keys, "cluster/"+r.TemplateName)
		} else {
			keys = append(keys, r.TemplateName)
		}
	}
	return keys
}

// templateHandler maps an analysis template event to the Rollouts that name it, so that a Rollout
// applied before its template proceeds once the template arrives.
func templateHandler(c client.Client, cluster bool) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
		opts := []client.ListOption{client.MatchingFields{templateIndex: obj.GetName()}, client.InNamespace(obj.GetNamespace())}
		if cluster {
			opts = []client.ListOption{client.MatchingFields{templateIndex: "cluster/" + obj.GetName()}}
		}
		var list v1alpha1.RolloutList
		if err := c.List(ctx, &list, opts...); err != nil {
			return nil
		}
		reqs := make([]reconcile.Request, 0, len(list.Items))
		for _, ro := range list.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ro.Namespace, Name: ro.Name}})
		}
		return reqs
	})
}

func controllerKey(obj client.Object) []string {
	if ref := metav1.GetControllerOf(obj); ref != nil {
		return []string{string(ref.UID)}
	}
	return []string{orphanKey}
}

// indexFields registers the cache indexes the reconciler lists by.
func indexFields(ctx context.Context, mgr ctrl.Manager) error {
	idx := mgr.GetFieldIndexer()
	if err := idx.IndexField(ctx, &appsv1.ReplicaSet{}, ownerIndex, controllerKey); err != nil {
		return fmt.Errorf("index ReplicaSets by controller: %w", err)
	}
	if err := idx.IndexField(ctx, &v1alpha1.AnalysisRun{}, ownerIndex, controllerKey); err != nil {
		return fmt.Errorf("index AnalysisRuns by controller: %w", err)
	}
	if err := idx.IndexField(ctx, &v1alpha1.Rollout{}, serviceIndex, func(obj client.Object) []string {
		return serviceNames(obj.(*v1alpha1.Rollout))
	}); err != nil {
		return fmt.Errorf("index Rollouts by Service: %w", err)
	}
	if err := idx.IndexField(ctx, &v1alpha1.Rollout{}, workloadIndex, func(obj client.Object) []string {
		if ref := obj.(*v1alpha1.Rollout).Spec.WorkloadRef; ref != nil && ref.Name != "" {
			return []string{ref.Name}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("index Rollouts by workloadRef: %w", err)
	}
	if err := idx.IndexField(ctx, &v1alpha1.Rollout{}, templateIndex, templateKeys); err != nil {
		return fmt.Errorf("index Rollouts by analysis template: %w", err)
	}
	if err := idx.IndexField(ctx, &v1alpha1.Rollout{}, routers.IndexField, routers.IndexKeys); err != nil {
		return fmt.Errorf("index Rollouts by routing object: %w", err)
	}
	return nil
}

// byIndex maps an event on a Service or Deployment to the Rollouts that name it in the given
// index, so that a Service created after its Rollout or edited by hand is put right, and a
// Deployment's new template starts an update.
func byIndex(c client.Client, index string) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
		var list v1alpha1.RolloutList
		if err := c.List(ctx, &list, client.InNamespace(obj.GetNamespace()), client.MatchingFields{index: obj.GetName()}); err != nil {
			return nil
		}
		reqs := make([]reconcile.Request, 0, len(list.Items))
		for _, ro := range list.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ro.Namespace, Name: ro.Name}})
		}
		return reqs
	})
}
