package lint

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/sluice-dev/sluice/analysis"
	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	sluicev1alpha1 "github.com/sluice-dev/sluice/api/sluice/v1alpha1"
	"github.com/sluice-dev/sluice/controllers/rollout/plan"
	"github.com/sluice-dev/sluice/sync/apply"
	"github.com/sluice-dev/sluice/trafficrouting/routers"
)

// fieldProblem is one message of a validation function, split into its field path and the rest.
type fieldProblem struct {
	field, msg string
}

// fieldPath matches the field path a validation message starts with.
var fieldPath = regexp.MustCompile(`^((?:spec|metadata|trafficRouting|steps)(?:\.[A-Za-z0-9"/_-]+|\[\d+\])*)[: ]\s*`)

// split takes the leading field path off a message, prefixing prefix when the path is relative
// to it ("trafficRouting.nginx ..." from the routers is under spec.strategy.canary).
func split(msg, prefix string) fieldProblem {
	m := fieldPath.FindStringSubmatch(msg)
	if m == nil {
		return fieldProblem{field: strings.TrimSuffix(prefix, "."), msg: msg}
	}
	field := m[1]
	if !strings.HasPrefix(field, "spec") && !strings.HasPrefix(field, "metadata") {
		field = prefix + field
	}
	return fieldProblem{field: field, msg: strings.TrimSpace(msg[len(m[0]):])}
}

// checkRollout runs the checks the rollout controller runs before it plans: the planner's
// Validate and, for a canary with a trafficRouting block, the routers' Validate (the controller
// reports both in the InvalidSpec condition). The analysis templates a rollout names are read
// from the cluster by the controller, so they are not checked here.
func checkRollout(ro *v1alpha1.Rollout) []fieldProblem {
	var out []fieldProblem
	seen := map[string]bool{}
	add := func(p fieldProblem) {
		if key := p.field + " " + p.msg; !seen[key] {
			seen[key] = true
			out = append(out, p)
		}
	}
	for _, msg := range plan.Validate(ro) {
		add(split(msg, "spec.strategy.canary."))
	}
	if c := ro.Spec.Strategy.Canary; c != nil && c.TrafficRouting != nil {
		if err := routers.Validate(ro); err != nil {
			// routers.Validate joins its problems with "; ".
			for _, msg := range strings.Split(err.Error(), "; ") {
				add(split(msg, "spec.strategy.canary."))
			}
		}
	}
	return out
}

// supportedProviders are the provider types of analysisrun.DefaultProviders, the providers the
// controller serves (a test keeps the two the same; building the providers needs a client).
var supportedProviders = map[string]bool{analysis.ProviderPrometheus: true, analysis.ProviderWeb: true, analysis.ProviderJob: true}

// checkTemplate runs the AnalysisRun controller's metric checks on a template's metrics, with
// the providers the controller serves. The controller checks a run's metrics once the
// arguments' values are in; an argument without a value in the template (the rollout passes
// it) is unknown here, so a metric that uses one is checked twice, with "0" and with "1m" in its
// place, and reported only when both fail: when it is wrong whatever the rollout passes.
func checkTemplate(spec v1alpha1.AnalysisTemplateSpec) []fieldProblem {
	supported := func(t string) bool { return supportedProviders[t] }
	var out []fieldProblem
	var metrics []v1alpha1.Metric
	for i, m := range spec.Metrics {
		field := "spec.metrics[" + strconv.Itoa(i) + "]"
		var firstErr error
		for _, unknown := range []string{"0", "1m"} {
			sub, err := analysis.SubstituteArgs(m, argValues(spec, unknown))
			if err == nil {
				err = analysis.ValidateMetric(sub, supported)
			}
			if err == nil {
				metrics = append(metrics, sub)
				firstErr = nil
				break
			}
			if firstErr == nil {
				firstErr = err
			}
		}
		if firstErr != nil {
			out = append(out, fieldProblem{field: field, msg: firstErr.Error()})
		}
	}
	if len(out) == 0 && len(spec.Templates) == 0 {
		// The run-wide checks (no metrics, a metric defined twice) once each metric is fine.
		if err := analysis.ValidateRunSpec(v1alpha1.AnalysisRunSpec{Metrics: metrics}, supported); err != nil {
			out = append(out, fieldProblem{field: "spec.metrics", msg: err.Error()})
		}
	}
	return out
}

// argValues are the template's argument values, with unknown for every argument the metrics use
// that the template gives no value.
func argValues(spec v1alpha1.AnalysisTemplateSpec, unknown string) map[string]string {
	values := map[string]string{}
	for _, name := range analysis.ReferencedArgs(spec.Metrics) {
		values[name] = unknown
	}
	for _, a := range spec.Args {
		if a.Value != nil {
			values[a.Name] = *a.Value
		}
	}
	return values
}

// checkGitSync runs the GitSync controller's spec check: the ignoreDifferences entries.
func checkGitSync(gs *sluicev1alpha1.GitSync) []fieldProblem {
	if err := apply.ValidateIgnore(gs.Spec.IgnoreDifferences); err != nil {
		return []fieldProblem{split(err.Error(), "")}
	}
	return nil
}
