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
