// Package trafficrouting is the seam between the rollout controller and the systems that shift
// traffic: one TrafficRouter per routing system (gatewayapi, istio). The rollout planner decides
// the weights; a router writes them into the routes and reports whether they are in effect.
package trafficrouting

import (
	"context"
	"errors"
	"fmt"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// WeightDestination is one side of a split: a Service, the pod-template hash behind it and its
// share of the traffic in percent of the rollout's maxTrafficWeight.
type WeightDestination struct {
	ServiceName     string
	PodTemplateHash string
	Weight          int32
}

// Weights is the split the rollout wants: canary and stable always add up to the maximum weight.
type Weights struct {
	Canary WeightDestination
	Stable WeightDestination
}

// HeaderRoute is a managed route that sends requests matching headers to the canary. An empty
// Match removes the route.
type HeaderRoute struct {
	Name  string
	Match []v1alpha1.HeaderRoutingMatch
}

// MirrorRoute is a managed route that copies matching requests to the canary. An empty Match
// removes the route.
type MirrorRoute struct {
	Name       string
	Percentage *int32
	Match      []v1alpha1.RouteMatch
}

// TrafficRouter shifts traffic for one rollout in one routing system. Every method is idempotent:
// it brings the routes to the desired state whatever they hold now, and writes nothing when they
// already hold it.
type TrafficRouter interface {
	// Name names the router in conditions and logs ("Gateway API", "Istio").
	Name() string
	// SetWeight writes the canary and stable weights into every route the rollout names.
	SetWeight(ctx context.Context, desired Weights) error
	// SetHeaderRoute adds, updates or (with no match) removes a managed header route.
	SetHeaderRoute(ctx context.Context, route HeaderRoute) error
	// SetMirrorRoute adds, updates or (with no match) removes a managed mirror route.
	SetMirrorRoute(ctx context.Context, route MirrorRoute) error
	// RemoveManagedRoutes removes every managed header and mirror route.
	RemoveManagedRoutes(ctx context.Context) error
	// VerifyWeight reports whether the routes carry the desired weights and the routing system
	// has accepted them (for the Gateway API: every parent Accepted for the route's generation).
	VerifyWeight(ctx context.Context, desired Weights) (verified bool, err error)
}

// ConfigError is a problem with the rollout's routing configuration or the objects it names (a
// missing route, a route that references neither Service): waiting will not fix it, so the
// rollout reports it in a condition instead of retrying with backoff. Router is empty for a
// problem of the trafficRouting block as a whole (see routers.Validate).
type ConfigError struct {
	Router string
	Msg    string
}

func (e *ConfigError) Error() string {
	if e.Router == "" {
		return e.Msg
	}
	return fmt.Sprintf("%s: %s", e.Router, e.Msg)
}

// IsConfigError reports whether err is, or wraps, a ConfigError.
func IsConfigError(err error) bool {
	var ce *ConfigError
	return errors.As(err, &ce)
}
