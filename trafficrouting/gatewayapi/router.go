// Package gatewayapi shifts traffic with Gateway API HTTPRoutes and GRPCRoutes, serving the
// trafficRouting.plugins."argoproj-labs/gatewayAPI" configuration natively.
//
// The router reads each named route, rewrites it with a pure function (httproute.go,
// grpcroute.go) and, only when that changed something, writes it back with a merge patch that
// carries the resourceVersion it read: a route edited in between makes the patch fail with a
// conflict, and the router reads it again and redoes the rewrite instead of overwriting the edit.
package gatewayapi

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/sluice-dev/sluice/trafficrouting"
)

// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=httproutes;grpcroutes,verbs=get;list;watch;patch

// RouterName names this router in conditions, errors and logs.
const RouterName = "Gateway API"

// Route names one HTTPRoute or GRPCRoute.
type Route struct {
	Name string
	// UseHeaderRoutes lets the router add managed header and mirror rules to this route.
	UseHeaderRoutes bool
}

// Config is what the router needs to know about one rollout.
type Config struct {
	// Namespace of the routes.
	Namespace string
	// ServiceNamespace is the namespace of the canary and stable Services, the rollout's
	// (default: Namespace).
	ServiceNamespace string
	HTTPRoutes       []Route
	GRPCRoutes       []Route
	// CanaryService and StableService are the Services whose backend weights the router sets.
	CanaryService string
	StableService string
	// ManagedRoutes are the names of the header and mirror routes, in precedence order; a rule
	// with one of these names belongs to the router.
	ManagedRoutes []string
	// MaxWeight is trafficRouting.maxTrafficWeight: canary and stable weights add up to it.
	MaxWeight int32
}

// Router is the TrafficRouter for the Gateway API.
type Router struct {
	client client.Client
	cfg    Config
}

var _ trafficrouting.TrafficRouter = (*Router)(nil)

// New returns a router that reads and writes routes through c.
func New(c client.Client, cfg Config) *Router {
	return &Router{client: c, cfg: cfg}
}

// Name implements trafficrouting.TrafficRouter.
func (r *Router) Name() string { return RouterName }

func (r *Router) services() services {
	ns := r.cfg.ServiceNamespace
	if ns == "" {
		ns = r.cfg.Namespace
	}
	return services{namespace: ns, routeNamespace: r.cfg.Namespace, canary: r.cfg.CanaryService, stable: r.cfg.StableService}
}

// SetWeight implements trafficrouting.TrafficRouter.
func (r *Router) SetWeight(ctx context.Context, desired trafficrouting.Weights) error {
	if err := desired.Validate(r.cfg.MaxWeight); err != nil {
		return fmt.Errorf("set Gateway API route weights: %w", err)
	}
	svc := r.services()
	return r.apply(ctx, false, rewrite{
		action: fmt.Sprintf("set canary weight %d and stable weight %d", desired.Canary.Weight, desired.Stable.Weight),
		http:   func(rt *gatewayv1.HTTPRoute) (bool, error) { return setHTTPWeights(rt, svc, desired) },
		grpc:   func(rt *gatewayv1.GRPCRoute) (bool, error) { return setGRPCWeights(rt, svc, desired) },
	})
}

// SetHeaderRoute implements trafficrouting.TrafficRouter. The rule goes into every route with
// UseHeaderRoutes; a removal sweeps every route.
func (r *Router) SetHeaderRoute(ctx context.Context, hr trafficrouting.HeaderRoute) error {
	svc, managed := r.services(), r.cfg.ManagedRoutes
	remove := len(hr.Match) == 0
	if !remove && !r.anyHeaderRoutes() {
		return configError("setHeaderRoute %q: no route has useHeaderRoutes: true", hr.Name)
	}
	return r.apply(ctx, !remove, rewrite{
		action: fmt.Sprintf("set header route %q", hr.Name),
		http:   func(rt *gatewayv1.HTTPRoute) (bool, error) { return setHTTPHeaderRule(rt, svc, managed, hr) },
		grpc:   func(rt *gatewayv1.GRPCRoute) (bool, error) { return setGRPCHeaderRule(rt, svc, managed, hr) },
	})
}

// SetMirrorRoute implements trafficrouting.TrafficRouter. Like header routes, mirror rules go
// into the routes with UseHeaderRoutes.
func (r *Router) SetMirrorRoute(ctx context.Context, mr trafficrouting.MirrorRoute) error {
	svc, managed := r.services(), r.cfg.ManagedRoutes
	remove := len(mr.Match) == 0
	if !remove && !r.anyHeaderRoutes() {
		return configError("setMirrorRoute %q: no route has useHeaderRoutes: true", mr.Name)
	}
	return r.apply(ctx, !remove, rewrite{
		action: fmt.Sprintf("set mirror route %q", mr.Name),
		http:   func(rt *gatewayv1.HTTPRoute) (bool, error) { return setHTTPMirrorRule(rt, svc, managed, mr) },
		grpc:   func(rt *gatewayv1.GRPCRoute) (bool, error) { return setGRPCMirrorRule(rt, svc, managed, mr) },
	})
}

// RemoveManagedRoutes implements trafficrouting.TrafficRouter.
func (r *Router) RemoveManagedRoutes(ctx context.Context) error {
	managed := r.cfg.ManagedRoutes
	if len(managed) == 0 {
		return nil
	}
	return r.apply(ctx, false, rewrite{
		action: "remove managed routes",
		http:   func(rt *gatewayv1.HTTPRoute) (bool, error) { return removeHTTPManagedRules(rt, managed), nil },
		grpc:   func(rt *gatewayv1.GRPCRoute) (bool, error) { return removeGRPCManagedRules(rt, managed), nil },
	})
}

// VerifyWeight implements trafficrouting.TrafficRouter: the weights count as applied when every
// route holds them and every parent in the route's status has accepted the route's current
// generation.
func (r *Router) VerifyWeight(ctx context.Context, desired trafficrouting.Weights) (bool, error) {
	svc := r.services()
	for _, rt := range r.cfg.HTTPRoutes {
		obj := &gatewayv1.HTTPRoute{}
		if err := r.get(ctx, "HTTPRoute", rt.Name, obj); err != nil {
			return false, fmt.Errorf("verify weights: %w", err)
		}
		held, err := httpWeightsHeld(obj, svc, desired)
		if ok := r.verified(ctx, obj, obj.Status.Parents, held, err); !ok || err != nil {
			return false, err
		}
	}
	for _, rt := range r.cfg.GRPCRoutes {
		obj := &gatewayv1.GRPCRoute{}
		if err := r.get(ctx, "GRPCRoute", rt.Name, obj); err != nil {
			return false, fmt.Errorf("verify weights: %w", err)
		}
		held, err := grpcWeightsHeld(obj, svc, desired)
		if ok := r.verified(ctx, obj, obj.Status.Parents, held, err); !ok || err != nil {
			return false, err
		}
	}
	return true, nil
}

func (r *Router) verified(ctx context.Context, obj client.Object, parents []gatewayv1.RouteParentStatus, held bool, err error) bool {
	if err != nil {
		return false
	}
	acc := accepted(parents, obj.GetGeneration())
	if !held || !acc {
		log.FromContext(ctx).V(1).Info("Route weights not verified yet", "route", key(obj),
			"weightsHeld", held, "accepted", acc, "generation", obj.GetGeneration())
	}
	return held && acc
}

func (r *Router) anyHeaderRoutes() bool {
	for _, rt := range append(append([]Route(nil), r.cfg.HTTPRoutes...), r.cfg.GRPCRoutes...) {
		if rt.UseHeaderRoutes {
			return true
		}
	}
	return false
}

// rewrite is one change to every route, as a pure function per route kind.
type rewrite struct {
	action string
	http   func(*gatewayv1.HTTPRoute) (bool, error)
	grpc   func(*gatewayv1.GRPCRoute) (bool, error)
}

// apply runs rw on every route (only those with UseHeaderRoutes when headerRoutesOnly). It first
// runs rw on a copy of every route, so that a configuration problem with any route (missing, or
// not splitting between the Services) leaves all of them as they were: nothing is half-applied.
func (r *Router) apply(ctx context.Context, headerRoutesOnly bool, rw rewrite) error {
	for _, write := range []bool{false, true} {
		for _, rt := range r.cfg.HTTPRoutes {
			if headerRoutesOnly && !rt.UseHeaderRoutes {
				continue
			}
			if err := run(ctx, r, write, "HTTPRoute", rt.Name, rw.action, func() *gatewayv1.HTTPRoute { return &gatewayv1.HTTPRoute{} }, rw.http); err != nil {
				return err
			}
		}
		for _, rt := range r.cfg.GRPCRoutes {
			if headerRoutesOnly && !rt.UseHeaderRoutes {
				continue
			}
			if err := run(ctx, r, write, "GRPCRoute", rt.Name, rw.action, func() *gatewayv1.GRPCRoute { return &gatewayv1.GRPCRoute{} }, rw.grpc); err != nil {
				return err
			}
		}
	}
	return nil
}

// run either checks (write false: read the route and run the rewrite on it, writing nothing) or
// updates one route.
func run[T client.Object](ctx context.Context, r *Router, write bool, kind, name, action string, newObj func() T, rewrite func(T) (bool, error)) error {
	if write {
		return update(ctx, r, kind, name, action, newObj, rewrite)
	}
	obj := newObj()
	if err := r.get(ctx, kind, name, obj); err != nil {
		return err
	}
	_, err := rewrite(obj)
	return err
}

// update reads, rewrites and (when changed) patches one route. A missing route, and an API server
// that rejects the result as invalid, are ConfigErrors: the rollout's configuration caused them.
func update[T client.Object](ctx context.Context, r *Router, kind, name, action string, newObj func() T, rewrite func(T) (bool, error)) error {
	routeKey := r.cfg.Namespace + "/" + name
	changed, err := trafficrouting.Rewrite(ctx, r.client, client.ObjectKey{Namespace: r.cfg.Namespace, Name: name}, newObj, rewrite)
	switch {
	case trafficrouting.IsConfigError(err):
		return err
	case apierrors.IsNotFound(err):
		return configError("%s %s not found", kind, routeKey)
	case apierrors.IsInvalid(err):
		return configError("%s on %s %s: the API server rejected the result: %v", action, kind, routeKey, err)
	case err != nil:
		return fmt.Errorf("%s on %s %s: %w", action, kind, routeKey, err)
	}
	if changed {
		log.FromContext(ctx).Info("Updated route", "action", action, "kind", kind, "route", routeKey)
	}
	return nil
}

// get reads a route; a missing route is a ConfigError.
func (r *Router) get(ctx context.Context, kind, name string, obj client.Object) error {
	err := r.client.Get(ctx, client.ObjectKey{Namespace: r.cfg.Namespace, Name: name}, obj)
	if apierrors.IsNotFound(err) {
		return configError("%s %s/%s not found", kind, r.cfg.Namespace, name)
	}
	if err != nil {
		return fmt.Errorf("get %s %s/%s: %w", kind, r.cfg.Namespace, name, err)
	}
	return nil
}
