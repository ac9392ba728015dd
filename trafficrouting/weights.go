package trafficrouting

import "fmt"

// Validate checks that the split is one a router can write: no negative weight, and canary and
// stable adding up to maxWeight (the rollout's maxTrafficWeight). A failure here is a bug in
// the caller, not a configuration problem, so it is a plain error.
func (w Weights) Validate(maxWeight int32) error {
	if w.Canary.Weight < 0 || w.Stable.Weight < 0 {
		return fmt.Errorf("weights canary %d, stable %d: a weight is negative", w.Canary.Weight, w.Stable.Weight)
	}
	if w.Canary.Weight+w.Stable.Weight != maxWeight {
		return fmt.Errorf("weights canary %d, stable %d: they add up to %d, not to maxTrafficWeight %d",
			w.Canary.Weight, w.Stable.Weight, w.Canary.Weight+w.Stable.Weight, maxWeight)
	}
	return nil
}
