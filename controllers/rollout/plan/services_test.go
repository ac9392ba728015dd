package plan

import (
	"strings"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// TestMissingServiceIsInvalidSpec: a Service the strategy names that does not exist is
// InvalidSpec in Argo Rollouts' words, nothing is planned, the planner looks again, and the
// status claims no Service switch.
func TestMissingServiceIsInvalidSpec(t *testing.T) {
	ro := blueGreenRollout(2, v1alpha1.BlueGreenStrategy{AutoPromotionEnabled: ptr.To(false)})
	w := newWorld(t, ro, "demo-preview") // no demo-active
	obs := w.observe()
	obs.MissingServices = []string{"demo-active"}
	p := Next(w.ro.DeepCopy(), obs, w.now)
	want := `spec.strategy.blueGreen.activeService: Invalid value: "demo-active": services "demo-active" not found`
	c := condition(&p.Status, v1alpha1.InvalidSpec)
	if c == nil || !strings.Contains(c.Message, want) || p.Status.Phase != v1alpha1.RolloutPhaseDegraded {
		t.Fatalf("InvalidSpec %+v, phase %s", c, p.Status.Phase)
	}
	if len(p.Create)+len(p.Scale)+len(p.Selectors) > 0 || p.Status.BlueGreen.ActiveSelector != "" {
		t.Fatalf("an invalid spec acted: creates %d scales %d selectors %d, activeSelector %q",
			len(p.Create), len(p.Scale), len(p.Selectors), p.Status.BlueGreen.ActiveSelector)
	}
	if p.RequeueAfter <= 0 || p.RequeueAfter > 10*time.Second {
		t.Fatalf("requeue after %s, want a retry within 10 s", p.RequeueAfter)
	}
}

// TestAbortMovesTrafficWhileAServiceIsMissing: an abort of a routed canary whose canary Service
// was deleted mid-update still sends every request back to stable (the rest of the plan waits
// for the Service); with the stable Service missing, the routes are left as they are.
func TestAbortMovesTrafficWhileAServiceIsMissing(t *testing.T) {
	for _, tc := range []struct {
		missing   string
		wantRoute bool
	}{{"demo-canary", true}, {"demo-stable", false}} {
		t.Run(tc.missing, func(t *testing.T) {
			ro := canaryRollout(4, weight(40), pause(""))
			ro.Spec.Strategy.Canary.TrafficRouting = gatewayRouting()
			w := newWorld(t, ro, "demo-canary", "demo-stable")
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Hour)
			if wt := w.ro.Status.Canary.Weights; wt == nil || wt.Canary.Weight != 40 || w.routed.Weights.Canary.Weight != 40 {
				t.Fatalf("the canary should carry 40%% before the abort: %+v", wt)
			}
			stable := w.ro.Status.StableRS
			delete(w.services, tc.missing)
			w.ro.Status.Abort = true
			obs := w.observe()
			obs.MissingServices = []string{tc.missing}
			p := Next(w.ro.DeepCopy(), obs, w.now)
			if c := condition(&p.Status, v1alpha1.InvalidSpec); c == nil || !strings.Contains(c.Message, tc.missing) {
				t.Fatalf("InvalidSpec %+v, want one naming %s", c, tc.missing)
			}
			if len(p.Create)+len(p.Scale)+len(p.Selectors)+len(p.Delete) > 0 {
				t.Fatalf("only the routes may move: creates %d scales %d selectors %d deletes %d",
					len(p.Create), len(p.Scale), len(p.Selectors), len(p.Delete))
			}
			if !tc.wantRoute {
				if p.Routing != nil {
					t.Fatalf("routes moved towards a missing stable Service: %+v", p.Routing.Weights)
				}
				return
			}
			if p.Routing == nil {
				t.Fatal("the abort planned no routing while the canary Service is missing")
			}
			got := p.Routing.Weights
			if got.Canary.Weight != 0 || got.Stable.Weight != 100 || got.Stable.PodTemplateHash != stable || got.Canary.PodTemplateHash != stable {
				t.Fatalf("routing %+v, want 0/100 on the stable pods %s", got, stable)
			}
			if wt := p.Status.Canary.Weights; wt == nil || wt.Canary.Weight != 0 || ptr.Deref(wt.Verified, true) {
				t.Fatalf("status weights %+v, want canary 0 not yet verified", wt)
			}
		})
	}
}
