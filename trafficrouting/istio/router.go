// Package istio shifts traffic with Istio VirtualServices, host-level (destinations are the canary
// and stable Services) or subset-level (destinations are the canary and stable subsets of a
// DestinationRule, whose labels select the pods by pod-template hash).
//
// Like the Gateway API router, it reads each object, rewrites it with a pure function
// (virtualservice.go, managed.go, destinationrule.go) and patches it, with an optimistic lock,
// only when the rewrite changed it.
package istio

import (
	"context"
	"fmt"
	"strings"

	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/trafficrouting"
)

// +kubebuilder:rbac:groups=networking.istio.io,resources=virtualservices;destinationrules,verbs=get;list;watch;patch

// RouterName names this router in conditions, errors and logs.
const RouterName = "Istio"

// Config is what the router needs to know about one rollout.
type Config struct {
	// Namespace is the rollout's: the default namespace of VirtualServices, and the namespace of
	// the DestinationRule and the Services.
	Namespace string
	// Rollout is the rollout's name, written into the DestinationRule's managed-by annotation.
	Rollout string
	// VirtualServices are the VirtualServices to change (istio.virtualService and
	// istio.virtualServices together). A name "vs.ns" means VirtualService vs in namespace ns.
	VirtualServices []v1alpha1.IstioVirtualService
	// DestinationRule, when set, makes routing subset-level.
	DestinationRule *v1alpha1.IstioDestinationRule
	CanaryService   string
	StableService   string
	// ManagedRoutes are the names of the header and mirror routes, in precedence order.
	ManagedRoutes []string
	// MaxWeight is trafficRouting.maxTrafficWeight: canary and stable weights add up to it.
	MaxWeight int32
}

// Router is the TrafficRouter for Istio. It also implements trafficrouting.SubsetUpdater.
type Router struct {
	client client.Client
	cfg    Config
}

var (
	_ trafficrouting.TrafficRouter = (*Router)(nil)
	_ trafficrouting.SubsetUpdater = (*Router)(nil)
)

// New returns a router that reads and writes Istio objects through c.
func New(c client.Client, cfg Config) *Router {
	return &Router{client: c, cfg: cfg}
}

// Name implements trafficrouting.TrafficRouter.
func (r *Router) Name() string { return RouterName }

// targets reads which destinations are the canary and the stable side. Subset-level, that takes
// the DestinationRule's host, so it reads the rule (with SetWeight's checks, that both subsets
// exist).
func (r *Router) targets(ctx context.Context, checkSubsets bool) (targets, error) {
	t := targets{namespace: r.cfg.Namespace, canaryHost: r.cfg.CanaryService, stableHost: r.cfg.StableService}
	ref := r.cfg.DestinationRule
	if ref == nil {
		return t, nil
	}
	dr := &istionetworkingv1.DestinationRule{}
	if err := r.get(ctx, "DestinationRule", client.ObjectKey{Namespace: r.cfg.Namespace, Name: ref.Name}, dr); err != nil {
		return t, err
	}
	if checkSubsets {
		if _, _, err := subsets(dr, *ref); err != nil {
			return t, err
		}
	}
	t.canarySubset, t.stableSubset, t.subsetHost = ref.CanarySubsetName, ref.StableSubsetName, dr.Spec.GetHost()
	return t, nil
}

// SetWeight implements trafficrouting.TrafficRouter. With a DestinationRule it first checks that
// the rule and both subsets exist.
func (r *Router) SetWeight(ctx context.Context, desired trafficrouting.Weights) error {
	if err := desired.Validate(r.cfg.MaxWeight); err != nil {
		return fmt.Errorf("set Istio route weights: %w", err)
	}
	t, err := r.targets(ctx, true)
	if err != nil {
		return err
	}
	managed := r.cfg.ManagedRoutes
	action := fmt.Sprintf("set canary weight %d and stable weight %d", desired.Canary.Weight, desired.Stable.Weight)
	return r.eachVirtualService(ctx, action, func(vs *istionetworkingv1.VirtualService, ref v1alpha1.IstioVirtualService) (bool, error) {
		return setVSWeights(vs, ref, t, managed, desired)
	})
}

// SetHeaderRoute implements trafficrouting.TrafficRouter.
func (r *Router) SetHeaderRoute(ctx context.Context, hr trafficrouting.HeaderRoute) error {
	t, err := r.targets(ctx, false)
	if err != nil {
		return err
	}
	managed := r.cfg.ManagedRoutes
	return r.eachVirtualService(ctx, fmt.Sprintf("set header route %q", hr.Name), func(vs *istionetworkingv1.VirtualService, ref v1alpha1.IstioVirtualService) (bool, error) {
		return setVSHeaderRoute(vs, ref, t, managed, hr)
	})
}

// SetMirrorRoute implements trafficrouting.TrafficRouter.
func (r *Router) SetMirrorRoute(ctx context.Context, mr trafficrouting.MirrorRoute) error {
	t, err := r.targets(ctx, false)
	if err != nil {
		return err
	}
	managed := r.cfg.ManagedRoutes
	return r.eachVirtualService(ctx, fmt.Sprintf("set mirror route %q", mr.Name), func(vs *istionetworkingv1.VirtualService, ref v1alpha1.IstioVirtualService) (bool, error) {
		return setVSMirrorRoute(vs, ref, t, managed, mr)
	})
}

// RemoveManagedRoutes implements trafficrouting.TrafficRouter.
func (r *Router) RemoveManagedRoutes(ctx context.Context) error {
	managed := r.cfg.ManagedRoutes
	if len(managed) == 0 {
		return nil
	}
	return r.eachVirtualService(ctx, "remove managed routes", func(vs *istionetworkingv1.VirtualService, _ v1alpha1.IstioVirtualService) (bool, error) {
		return removeVSManagedRoutes(vs, managed), nil
	})
}

// VerifyWeight implements trafficrouting.TrafficRouter. Istio reports nothing about whether a
// VirtualService is in effect, so the weights count as applied when every VirtualService holds them.
func (r *Router) VerifyWeight(ctx context.Context, desired trafficrouting.Weights) (bool, error) {
	t, err := r.targets(ctx, false)
	if err != nil {
		return false, fmt.Errorf("verify weights: %w", err)
	}
	managed := r.cfg.ManagedRoutes
	for _, ref := range r.cfg.VirtualServices {
		vs := &istionetworkingv1.VirtualService{}
		if err := r.get(ctx, "VirtualService", r.vsKey(ref), vs); err != nil {
			return false, fmt.Errorf("verify weights: %w", err)
		}
		held, err := vsWeightsHeld(vs, ref, t, managed, desired)
		if err != nil || !held {
			if err == nil {
				log.FromContext(ctx).V(1).Info("VirtualService weights not verified yet", "virtualService", key(vs))
			}
			return false, err
		}
	}
	return true, nil
}

// UpdateSubsets implements trafficrouting.SubsetUpdater: it labels the DestinationRule's canary
// and stable subsets with the pod-template hashes. Call it once the ReplicaSet behind a new hash
// is available, before shifting traffic to it. Without a DestinationRule it does nothing.
func (r *Router) UpdateSubsets(ctx context.Context, canaryHash, stableHash string) error {
	ref := r.cfg.DestinationRule
	if ref == nil {
		return nil
	}
	k := client.ObjectKey{Namespace: r.cfg.Namespace, Name: ref.Name}
	action := fmt.Sprintf("set subset hashes %s=%q %s=%q", ref.CanarySubsetName, canaryHash, ref.StableSubsetName, stableHash)
	return r.update(ctx, "DestinationRule", k, action, func() client.Object { return &istionetworkingv1.DestinationRule{} },
		func(o client.Object) (bool, error) {
			return setSubsetHashes(o.(*istionetworkingv1.DestinationRule), *ref, r.cfg.Rollout, canaryHash, stableHash)
		})
}

// eachVirtualService runs one pure rewrite on every VirtualService of the rollout. It first runs
// it on a copy of each, so that a configuration problem with any of them leaves all of them as
// they were: nothing is half-applied.
func (r *Router) eachVirtualService(ctx context.Context, action string, rewrite func(*istionetworkingv1.VirtualService, v1alpha1.IstioVirtualService) (bool, error)) error {
	for _, ref := range r.cfg.VirtualServices {
		vs := &istionetworkingv1.VirtualService{}
		if err := r.get(ctx, "VirtualService", r.vsKey(ref), vs); err != nil {
			return err
		}
		if _, err := rewrite(vs, ref); err != nil {
			return err
		}
	}
	for _, ref := range r.cfg.VirtualServices {
		err := r.update(ctx, "VirtualService", r.vsKey(ref), action, func() client.Object { return &istionetworkingv1.VirtualService{} },
			func(o client.Object) (bool, error) { return rewrite(o.(*istionetworkingv1.VirtualService), ref) })
		if err != nil {
			return err
		}
	}
	return nil
}

// update reads, rewrites and (when changed) patches one object. A missing object, and an API
// server that rejects the result as invalid, are ConfigErrors.
func (r *Router) update(ctx context.Context, kind string, k client.ObjectKey, action string, newObj func() client.Object, rewrite func(client.Object) (bool, error)) error {
	changed, err := trafficrouting.Rewrite(ctx, r.client, k, newObj, rewrite)
	switch {
	case trafficrouting.IsConfigError(err):
		return err
	case apierrors.IsNotFound(err):
		return configError("%s %s not found", kind, k)
	case apierrors.IsInvalid(err):
		return configError("%s on %s %s: the API server rejected the result: %v", action, kind, k, err)
	case err != nil:
		return fmt.Errorf("%s on %s %s: %w", action, kind, k, err)
	}
	if changed {
		log.FromContext(ctx).Info("Updated Istio object", "action", action, "kind", kind, "object", k.String())
	}
	return nil
}

func (r *Router) get(ctx context.Context, kind string, k client.ObjectKey, obj client.Object) error {
	err := r.client.Get(ctx, k, obj)
	if apierrors.IsNotFound(err) {
		return configError("%s %s not found", kind, k)
	}
	if err != nil {
		return fmt.Errorf("get %s %s: %w", kind, k, err)
	}
	return nil
}

// vsKey is where a VirtualService lives: "name.namespace" names another namespace, as in Argo
// Rollouts; any other name is in the rollout's namespace.
func (r *Router) vsKey(ref v1alpha1.IstioVirtualService) client.ObjectKey {
	return VirtualServiceKey(ref.Name, r.cfg.Namespace)
}

// VirtualServiceKey resolves a trafficRouting.istio virtualService name against the rollout's
// namespace.
func VirtualServiceKey(name, rolloutNamespace string) client.ObjectKey {
	if parts := strings.Split(name, "."); len(parts) == 2 {
		return client.ObjectKey{Namespace: parts[1], Name: parts[0]}
	}
	return client.ObjectKey{Namespace: rolloutNamespace, Name: name}
}

func configError(format string, args ...any) error {
	return &trafficrouting.ConfigError{Router: RouterName, Msg: fmt.Sprintf(format, args...)}
}

func key(o client.Object) string { return o.GetNamespace() + "/" + o.GetName() }
