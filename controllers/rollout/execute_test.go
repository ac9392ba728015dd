package rollout

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/controllers/rollout/plan"
	"github.com/sluice-dev/sluice/trafficrouting"
)

// TestPhaseOrder: the order that keeps traffic safe is the code's: Services select their pods
// before routes send them traffic, routes carry their weights before ReplicaSets shrink; an abort
// moves traffic back to stable before anything else.
func TestPhaseOrder(t *testing.T) {
	r := &Reconciler{}
	names := func(p plan.Plan) []string {
		var out []string
		for _, ph := range r.phases(types.NamespacedName{}, &v1alpha1.Rollout{}, p, nil) {
			out = append(out, ph.name)
		}
		return out
	}
	want := []string{"create ReplicaSets", "switch Service selectors", "route traffic", "scale ReplicaSets",
		"set pod metadata", "start and stop AnalysisRuns", "delete old objects"}
	if got := names(plan.Plan{}); !slices.Equal(got, want) {
		t.Errorf("phases %q, want %q", got, want)
	}
	abort := append([]string{"route traffic"}, slices.DeleteFunc(slices.Clone(want), func(s string) bool { return s == "route traffic" })...)
	if got := names(plan.Plan{Status: v1alpha1.RolloutStatus{Abort: true}}); !slices.Equal(got, abort) {
		t.Errorf("abort phases %q, want %q", got, abort)
	}
}

// router is a TrafficRouter that records the weights it was given and may refuse them.
type router struct {
	name   string
	refuse error
	got    []int32
}

func (f *router) Name() string { return f.name }
func (f *router) SetWeight(_ context.Context, w trafficrouting.Weights) error {
	if f.refuse != nil {
		return f.refuse
	}
	f.got = append(f.got, w.Canary.Weight)
	return nil
}
func (f *router) SetHeaderRoute(context.Context, trafficrouting.HeaderRoute) error { return nil }
func (f *router) SetMirrorRoute(context.Context, trafficrouting.MirrorRoute) error { return nil }
func (f *router) RemoveManagedRoutes(context.Context) error                        { return nil }
func (f *router) VerifyWeight(context.Context, trafficrouting.Weights) (bool, error) {
	return true, nil
}

// TestEveryRouterOnItsOwn: one router refusing a weight does not keep it from the others (an
// abort's weight 0 reaches every route that takes it), and the error names each failing router.
func TestEveryRouterOnItsOwn(t *testing.T) {
	first := &router{name: "Istio", refuse: errors.New("VirtualService web: admission denied")}
	second := &router{name: "Gateway API"}
	third := &router{name: "Other", refuse: errors.New("HTTPRoute web: conflict")}
	ro := &v1alpha1.Rollout{Spec: v1alpha1.RolloutSpec{Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
		TrafficRouting: &v1alpha1.RolloutTrafficRouting{},
	}}}}
	intent := &plan.RoutingIntent{Weights: trafficrouting.Weights{
		Canary: trafficrouting.WeightDestination{ServiceName: "web-canary", Weight: 0},
		Stable: trafficrouting.WeightDestination{ServiceName: "web-stable", Weight: 100},
	}}
	err := (&Reconciler{}).applyRouting(context.Background(), ro, []trafficrouting.TrafficRouter{first, second, third}, intent)
	if !slices.Equal(second.got, []int32{0}) {
		t.Fatalf("the router after a failing one got weights %v, want [0]", second.got)
	}
	if err == nil || !strings.Contains(err.Error(), "with Istio: VirtualService web") || !strings.Contains(err.Error(), "with Other: HTTPRoute web") {
		t.Fatalf("error %v: want both failing routers named", err)
	}
}

// TestRetryKeepsThePlansTimers: a failed execution is retried after its backoff, or sooner when
// the plan looks again sooner (a pause ends on time although an unrelated write keeps failing).
func TestRetryKeepsThePlansTimers(t *testing.T) {
	for _, c := range []struct{ planned, backoff, want time.Duration }{
		{0, 10 * time.Second, 10 * time.Second},
		{3 * time.Second, 10 * time.Second, 3 * time.Second},
		{time.Minute, 10 * time.Second, 10 * time.Second},
		{time.Minute, 5 * time.Millisecond, 5 * time.Millisecond},
	} {
		if got := retryAfter(c.planned, c.backoff); got != c.want {
			t.Errorf("retryAfter(%v, %v) = %v, want %v", c.planned, c.backoff, got, c.want)
		}
	}
	r := &Reconciler{}
	key := types.NamespacedName{Namespace: "ns", Name: "web"}
	var last time.Duration
	for i := 0; i < 40; i++ {
		last = r.retries().When(key)
		if last > 10*time.Second {
			t.Fatalf("failure %d backs off %v, want at most 10s", i+1, last)
		}
	}
	if last != 10*time.Second {
		t.Fatalf("after 40 failures the backoff is %v, want the 10s cap", last)
	}
	rl := newRateLimiter()
	for i := 0; i < 40; i++ {
		last = rl.When(reconcile.Request{NamespacedName: key})
	}
	if last != 10*time.Second {
		t.Fatalf("the queue's backoff after 40 failures is %v, want the 10s cap", last)
	}
}
