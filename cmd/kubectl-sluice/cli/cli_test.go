package cli

import (
	"bytes"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

func TestStatusVerdict(t *testing.T) {
	ro := func(phase v1alpha1.RolloutPhase, msg string, observed string) *v1alpha1.Rollout {
		return &v1alpha1.Rollout{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Generation: 2},
			Status:     v1alpha1.RolloutStatus{Phase: phase, Message: msg, ObservedGeneration: observed},
		}
	}
	for _, c := range []struct {
		name  string
		ro    *v1alpha1.Rollout
		watch bool
		want  Verdict
	}{
		{"healthy", ro(v1alpha1.RolloutPhaseHealthy, "", "2"), false, Verdict{Line: "Healthy", Done: true}},
		{"degraded", ro(v1alpha1.RolloutPhaseDegraded, "RolloutAborted: aborted", "2"), false, Verdict{Line: "Degraded - RolloutAborted: aborted", Done: true, Code: 1}},
		{"paused", paused(ro(v1alpha1.RolloutPhasePaused, "CanaryPauseStep", "2")), false, Verdict{Line: "Paused - CanaryPauseStep", Done: true}},
		{"paused --watch", paused(ro(v1alpha1.RolloutPhasePaused, "CanaryPauseStep", "2")), true, Verdict{Line: "Paused - CanaryPauseStep"}},
		// Just promoted: the pause conditions are gone but the phase is not written yet.
		{"promoted", ro(v1alpha1.RolloutPhasePaused, "CanaryPauseStep", "2"), false, Verdict{Line: "Progressing - promoted, waiting for the controller to resume"}},
		{"promoted --full", func() *v1alpha1.Rollout {
			r := paused(ro(v1alpha1.RolloutPhasePaused, "CanaryPauseStep", "2"))
			r.Status.PromoteFull = true
			return r
		}(), false, Verdict{Line: "Progressing - promoted, waiting for the controller to resume"}},
		{"retried", func() *v1alpha1.Rollout {
			r := ro(v1alpha1.RolloutPhaseDegraded, "RolloutAborted: aborted", "2")
			r.Status.Conditions = []v1alpha1.RolloutCondition{{Type: v1alpha1.RolloutProgressing, Status: "False", Reason: v1alpha1.RolloutAbortedReason}}
			return r
		}(), false, Verdict{Line: "Progressing - retried, waiting for the controller to start again"}},
		{"progressing", ro(v1alpha1.RolloutPhaseProgressing, "more replicas need to be updated", "2"), false, Verdict{Line: "Progressing - more replicas need to be updated"}},
		// A Healthy status written for the previous generation says nothing about the new spec.
		{"not observed yet", ro(v1alpha1.RolloutPhaseHealthy, "", "1"), false, Verdict{Line: "Progressing - waiting for the controller to observe the latest spec"}},
	} {
		if got := StatusVerdict(c.ro, c.watch); got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
}

func paused(ro *v1alpha1.Rollout) *v1alpha1.Rollout {
	ro.Status.PauseConditions = []v1alpha1.PauseCondition{{Reason: v1alpha1.PauseReasonCanaryPauseStep}}
	return ro
}

func TestClosest(t *testing.T) {
	names := []string{"checkout", "web", "web-api", "payments"}
	for want, typo := range map[string]string{"checkout": "chekout", "web": "wbe", "payments": "payment", "": "inventory"} {
		if got := closest(typo, names); got != want {
			t.Errorf("closest(%q) = %q, want %q", typo, got, want)
		}
	}
}

// TestUsageErrors: wrong arguments are one line on stderr and exit 1, without the usage text.
func TestUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"promote"}, "error: kubectl sluice promote takes ROLLOUT (got 0 argument(s)); see --help\n"},
		{[]string{"set", "image", "web", "app"}, "error: want CONTAINER=IMAGE (or *=IMAGE), got \"app\"\n"},
		{[]string{"get", "rollout", "web", "-o", "table"}, "error: unknown output format \"table\": use json or yaml\n"},
		{[]string{"lint"}, "error: lint needs -f FILE, -f DIR or -f - (stdin)\n"},
	} {
		var out, errOut bytes.Buffer
		code := Run(t.Context(), c.args, genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
		if code != 1 || errOut.String() != c.want {
			t.Errorf("%v: exit %d, stderr %q; want 1 and %q", c.args, code, errOut.String(), c.want)
		}
	}
}

// TestLintCommand: problems on stdout, a count on stderr, exit 1; a clean file exits 0.
func TestLintCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	if code := Run(t.Context(), []string{"lint", "-f", "../lint/testdata/invalid.yaml"}, streams); code != 1 {
		t.Fatalf("lint of invalid.yaml: exit %d", code)
	}
	if !strings.Contains(out.String(), "../lint/testdata/invalid.yaml:1: Rollout shop/web: spec.strategy.canary.steps[0].setWeight: 150 must be between 0 and 100\n") ||
		!strings.HasPrefix(errOut.String(), "error: 12 problem(s) in 4 object(s) checked") {
		t.Fatalf("lint output:\n%s%s", out.String(), errOut.String())
	}
	out.Reset()
	errOut.Reset()
	if code := Run(t.Context(), []string{"lint", "-f", "../lint/testdata/valid.yaml"}, streams); code != 0 || out.String() != "3 object(s) checked, no problems\n" {
		t.Fatalf("lint of valid.yaml: exit %d\n%s%s", code, out.String(), errOut.String())
	}
}
