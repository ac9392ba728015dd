package e2e

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/trafficrouting/routers"
)

// TestRoutingWatchIndex checks the watch helpers against a real informer cache: a route event maps
// back to the rollouts that reference the route, across namespaces, through the field index.
func TestRoutingWatchIndex(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	edge := newNamespace(t)
	mgr := startManager(t, func(mgr ctrl.Manager) error {
		return mgr.GetFieldIndexer().IndexField(ctx, &v1alpha1.Rollout{}, routers.IndexField, routers.IndexKeys)
	})

	ro := routingRollout(t, ns, `
canaryService: web-canary
stableService: web-stable
trafficRouting:
  plugins:
    argoproj-labs/gatewayAPI: {httpRoutes: [{name: web}], namespace: `+edge+`}
`)
	labels := map[string]string{"app": "web"}
	ro.Spec.Replicas = ptr.To[int32](1)
	ro.Spec.Selector = &metav1.LabelSelector{MatchLabels: labels}
	ro.Spec.Template = corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.com/web:1"}}},
	}
	must(t, "create Rollout", env.client.Create(ctx, ro))

	route := &gatewayv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: edge, Name: "web"}}
	key, ok := routers.KeyOf(route)
	if !ok {
		t.Fatalf("KeyOf(HTTPRoute) is not ok")
	}
	eventually(t, 10*time.Second, "the rollout under the route's index key", func() (bool, error) {
		var list v1alpha1.RolloutList
		if err := mgr.GetClient().List(ctx, &list, client.MatchingFields{routers.IndexField: key}); err != nil {
			return false, err
		}
		return len(list.Items) == 1 && list.Items[0].Name == "web" && list.Items[0].Namespace == ns, nil
	})

	other, _ := routers.KeyOf(&gatewayv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}})
	var list v1alpha1.RolloutList
	must(t, "list by another route's key", mgr.GetClient().List(ctx, &list, client.MatchingFields{routers.IndexField: other}))
	if len(list.Items) != 0 {
		t.Errorf("a route in the rollout's own namespace maps to %d rollouts, want 0 (the routes are in %s)", len(list.Items), edge)
	}
}
