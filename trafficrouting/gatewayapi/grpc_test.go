package gatewayapi

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/trafficrouting"
	"github.com/sluice-dev/sluice/trafficrouting/internal/golden"
)

func setGW(w trafficrouting.Weights) func(*gatewayv1.GRPCRoute) (bool, error) {
	return func(r *gatewayv1.GRPCRoute) (bool, error) { return setGRPCWeights(r, svc, w) }
}

func setGHeader(hr trafficrouting.HeaderRoute) func(*gatewayv1.GRPCRoute) (bool, error) {
	return func(r *gatewayv1.GRPCRoute) (bool, error) { return setGRPCHeaderRule(r, svc, managed, hr) }
}

func setGMirror(mr trafficrouting.MirrorRoute) func(*gatewayv1.GRPCRoute) (bool, error) {
	return func(r *gatewayv1.GRPCRoute) (bool, error) { return setGRPCMirrorRule(r, svc, managed, mr) }
}

func TestGRPCRoute(t *testing.T) {
	t.Run("weights", func(t *testing.T) {
		golden.Run(t, "grpcroute.yaml", "grpc-weights-20", golden.Changes(setGW(weights(20, 80))), golden.Unchanged(setGW(weights(20, 80))))
	})
	t.Run("header and mirror rules, then removed", func(t *testing.T) {
		byHeader := v1alpha1.RouteMatch{Headers: map[string]v1alpha1.StringMatch{"x-debug": {Exact: "1"}}}
		// X-Tenant replaces the rule's own x-tenant header match in the header rule.
		xTenant := v1alpha1.HeaderRoutingMatch{HeaderName: "X-Tenant", HeaderValue: &v1alpha1.StringMatch{Prefix: "acme"}}
		golden.Run(t, "grpcroute.yaml", "grpc-header-and-mirror",
			golden.Changes(setGW(weights(20, 80))),
			golden.Changes(setGMirror(mirrorRoute("canary-mirror", int32p(25), byHeader))),
			golden.Changes(setGHeader(headerRoute("canary-header", xCanary, xTenant))),
			golden.Unchanged(setGHeader(headerRoute("canary-header", xCanary, xTenant))))
		golden.Run(t, "grpcroute.yaml", "grpc-weights-20",
			golden.Changes(setGW(weights(20, 80))),
			golden.Changes(setGMirror(mirrorRoute("canary-mirror", int32p(25), byHeader))),
			golden.Changes(setGHeader(headerRoute("canary-header", xCanary, xTenant))),
			golden.Changes(func(r *gatewayv1.GRPCRoute) (bool, error) { return removeGRPCManagedRules(r, managed), nil }))
	})
	t.Run("mirror by path is a ConfigError", func(t *testing.T) {
		r := golden.Load[gatewayv1.GRPCRoute](t, "grpcroute.yaml")
		_, err := setGRPCMirrorRule(r, svc, managed, mirrorRoute("canary-mirror", nil, mirrorAll))
		if !trafficrouting.IsConfigError(err) || !strings.Contains(err.Error(), "headers only") {
			t.Fatalf("error = %v, want a ConfigError about headers only", err)
		}
	})
}

func TestAccepted(t *testing.T) {
	cond := func(status string, gen int64) gatewayv1.RouteParentStatus {
		return gatewayv1.RouteParentStatus{Conditions: []metav1.Condition{{Type: "Accepted", Status: metav1.ConditionStatus(status), ObservedGeneration: gen}}}
	}
	cases := []struct {
		name    string
		parents []gatewayv1.RouteParentStatus
		want    bool
	}{
		{"no parents", nil, false},
		{"accepted for this generation", []gatewayv1.RouteParentStatus{cond("True", 3)}, true},
		{"accepted for an older generation", []gatewayv1.RouteParentStatus{cond("True", 2)}, false},
		{"not accepted", []gatewayv1.RouteParentStatus{cond("False", 3)}, false},
		{"one of two parents behind", []gatewayv1.RouteParentStatus{cond("True", 3), cond("True", 2)}, false},
		{"no Accepted condition", []gatewayv1.RouteParentStatus{{}}, false},
	}
	for _, c := range cases {
		if got := accepted(c.parents, 3); got != c.want {
			t.Errorf("%s: accepted = %v, want %v", c.name, got, c.want)
		}
	}
}
