package rollout

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/controllers/rollout/plan"
)

// ValidateAnalysis runs the reconciler's checks of the analyses ro names (every template exists;
// a step or promotion analysis ends) with c as the source of the templates, and returns the
// messages the InvalidSpec condition would carry. The kubectl plugin's lint calls it offline,
// with the templates of the files it checks.
func ValidateAnalysis(ctx context.Context, c client.Client, ro *v1alpha1.Rollout) ([]string, error) {
	var obs plan.Observed
	if err := (&Reconciler{Client: c}).validateAnalysis(ctx, ro, &obs); err != nil {
		return nil, err
	}
	return obs.SpecErrors, nil
}
