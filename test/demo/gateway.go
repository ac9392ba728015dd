package demo

import (
	"context"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// gatewayController is the controller name the stand-in writes in route status.
const gatewayController = "sluice.dev/demo-gateway"

// Gateway stands for the Gateway controller: it marks every payments HTTPRoute Accepted at its
// current generation, which is what the rollout controller waits for before it counts a weight as
// in effect.
type Gateway struct {
	cancel context.CancelFunc
	done   sync.WaitGroup
}

// StartGateway accepts the routes every 100 ms until Stop.
func StartGateway(c client.Client) *Gateway {
	ctx, cancel := context.WithCancel(context.Background())
	g := &Gateway{cancel: cancel}
	g.done.Add(1)
	go func() {
		defer g.done.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			acceptRoutes(ctx, c)
		}
	}()
	return g
}

// Stop ends the stand-in.
func (g *Gateway) Stop() {
	g.cancel()
	g.done.Wait()
}

func acceptRoutes(ctx context.Context, c client.Client) {
	routes := &gatewayv1.HTTPRouteList{}
	if err := c.List(ctx, routes, client.MatchingLabels{"app.kubernetes.io/part-of": "payments"}); err != nil {
		return
	}
	for i := range routes.Items {
		r := &routes.Items[i]
		if len(r.Status.Parents) == len(r.Spec.ParentRefs) && len(r.Status.Parents) > 0 &&
			len(r.Status.Parents[0].Conditions) > 0 && r.Status.Parents[0].Conditions[0].ObservedGeneration == r.Generation {
			continue
		}
		r.Status.Parents = nil
		for _, ref := range r.Spec.ParentRefs {
			r.Status.Parents = append(r.Status.Parents, gatewayv1.RouteParentStatus{
				ParentRef: ref, ControllerName: gatewayController,
				Conditions: []metav1.Condition{{Type: string(gatewayv1.RouteConditionAccepted), Status: metav1.ConditionTrue,
					Reason: string(gatewayv1.RouteReasonAccepted), ObservedGeneration: r.Generation, LastTransitionTime: metav1.Now()}},
			})
		}
		_ = c.Status().Update(ctx, r)
	}
}
