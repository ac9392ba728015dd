package plan

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// Validate returns what is wrong with a Rollout's spec, one message per problem, each naming the
// field. An empty result means the spec is valid. With a trafficRouting block, the Services and
// the header and mirror steps are left to trafficrouting/routers.Validate, whose messages the
// reconciler passes in as Observed.SpecErrors, so that no problem is reported twice.
func Validate(ro *v1alpha1.Rollout) []string {
	var errs []string
	add := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	spec := &ro.Spec

	if spec.Replicas != nil && *spec.Replicas < 0 {
		add("spec.replicas must not be negative")
	}
	// The CRD leaves container resources unchecked, as Argo Rollouts' does; what did not
	// decode (a malformed quantity) was left out of the template and is reported here, so the
	// template is never used without it.
	errs = append(errs, spec.TemplateProblems()...)
	if spec.WorkloadRef != nil {
		errs = append(errs, validateWorkloadRef(spec.WorkloadRef)...)
		if !emptyTemplate(&spec.Template) {
			// Argo Rollouts' words: the template comes from the Deployment, never from both.
			add("spec.template: template must be empty for workload reference rollout")
		}
	} else {
		errs = append(errs, validateSelector(spec.Selector, spec.Template.Labels)...)
		if len(spec.Template.Spec.Containers) == 0 {
			add("spec.template.spec.containers must have at least one container")
		}
	}
	switch s := spec.Strategy; {
	case s.Canary != nil && s.BlueGreen != nil:
		add("spec.strategy must set exactly one of canary and blueGreen, not both")
	case s.Canary == nil && s.BlueGreen == nil:
		add("spec.strategy must set one of canary and blueGreen")
	case s.Canary != nil:
		errs = append(errs, validateCanary(s.Canary)...)
	default:
		errs = append(errs, validateBlueGreen(s.BlueGreen)...)
	}
	if spec.ProgressDeadlineSeconds != nil && *spec.ProgressDeadlineSeconds <= spec.MinReadySeconds {
		add("spec.progressDeadlineSeconds must be greater than spec.minReadySeconds")
	}
	return errs
}

func validateWorkloadRef(ref *v1alpha1.ObjectRef) []string {
	var errs []string
	if ref.Kind != "Deployment" || (ref.APIVersion != "" && ref.APIVersion != "apps/v1") {
		errs = append(errs, fmt.Sprintf("spec.workloadRef must name an apps/v1 Deployment, not %s %s", ref.APIVersion, ref.Kind))
	}
	if ref.Name == "" {
		errs = append(errs, "spec.workloadRef.name is required")
	}
	switch ref.ScaleDown {
	case "", v1alpha1.ScaleDownNever, v1alpha1.ScaleDownOnSuccess, v1alpha1.ScaleDownProgressively:
	default:
		errs = append(errs, fmt.Sprintf("spec.workloadRef.scaleDown %q must be never, onsuccess or progressively", ref.ScaleDown))
	}
	return errs
}

// emptyTemplate reports whether a pod template sets nothing: no labels, no annotations and an
// empty pod spec (as Argo Rollouts decides it for a workloadRef rollout).
func emptyTemplate(t *corev1.PodTemplateSpec) bool {
	return len(t.Labels) == 0 && len(t.Annotations) == 0 && equality.Semantic.DeepEqual(t.Spec, corev1.PodSpec{})
}

func validateSelector(sel *metav1.LabelSelector, templateLabels map[string]string) []string {
	if sel == nil || (len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0) {
		return []string{"spec.selector is required and must not be empty"}
	}
	selector, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return []string{fmt.Sprintf("spec.selector is invalid: %v", err)}
	}
	if !selector.Matches(labels.Set(templateLabels)) {
		return []string{"spec.selector does not match spec.template.metadata.labels"}
	}
	if _, ok := sel.MatchLabels[v1alpha1.PodTemplateHashLabelKey]; ok {
		return []string{fmt.Sprintf("spec.selector must not use the %s label, which the controller sets", v1alpha1.PodTemplateHashLabelKey)}
	}
	return nil
}

func validateCanary(c *v1alpha1.CanaryStrategy) []string {
	var errs []string
	add := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if c.TrafficRouting == nil && c.CanaryService != "" && c.CanaryService == c.StableService {
		add("spec.strategy.canary.canaryService and stableService must be different Services")
	}
	surge, unavailable := c.GetMaxSurge(), c.GetMaxUnavailable()
	errs = append(errs, validatePercentOrCount("spec.strategy.canary.maxSurge", surge)...)
	errs = append(errs, validatePercentOrCount("spec.strategy.canary.maxUnavailable", unavailable)...)
	if isZero(surge) && isZero(unavailable) {
		add("spec.strategy.canary.maxSurge and maxUnavailable must not both be 0")
	}
	errs = append(errs, validateMetadata("spec.strategy.canary.canaryMetadata", c.CanaryMetadata)...)
	errs = append(errs, validateMetadata("spec.strategy.canary.stableMetadata", c.StableMetadata)...)
	if c.PingPong != nil {
		add("spec.strategy.canary.pingPong is not supported")
	}
	if c.TrafficRouting != nil {
		errs = append(errs, c.TrafficRouting.Unsupported()...)
	}
	for i, step := range c.Steps {
		errs = append(errs, validateStep(c, i, step)...)
	}
	if c.Analysis != nil && c.Analysis.StartingStep != nil {
		if s := *c.Analysis.StartingStep; s < 0 || int(s) > len(c.Steps) {
			add("spec.strategy.canary.analysis.startingStep %d is out of range 0..%d", s, len(c.Steps))
		}
	}
	return errs
}

func validateStep(c *v1alpha1.CanaryStrategy, i int, step v1alpha1.CanaryStep) []string {
	field := fmt.Sprintf("spec.strategy.canary.steps[%d]", i)
	set := setStepFields(step)
	if len(set) != 1 {
		if len(set) == 0 {
			return []string{field + " must set exactly one step type"}
		}
		return []string{fmt.Sprintf("%s must set exactly one step type, not %s", field, strings.Join(set, " and "))}
	}
	maxWeight := int32(100)
	if c.TrafficRouting != nil {
		maxWeight = c.TrafficRouting.GetMaxTrafficWeight()
	}
	switch {
	case step.SetWeight != nil:
		if w := *step.SetWeight; w < 0 || w > maxWeight {
			return []string{fmt.Sprintf("%s.setWeight %d must be between 0 and %d", field, w, maxWeight)}
		}
	case step.Pause != nil:
		if _, _, err := step.Pause.GetDuration(); err != nil {
			return []string{fmt.Sprintf("%s.pause.duration: %v", field, err)}
		}
	case step.SetCanaryScale != nil:
		return validateCanaryScale(field, step.SetCanaryScale)
	case step.Analysis != nil:
		if len(step.Analysis.Templates) == 0 {
			return []string{field + ".analysis.templates must name at least one template"}
		}
	case (step.SetHeaderRoute != nil || step.SetMirrorRoute != nil) && c.TrafficRouting == nil:
		// With trafficRouting, routers.Validate checks these steps.
		kind := "setHeaderRoute"
		if step.SetMirrorRoute != nil {
			kind = "setMirrorRoute"
		}
		return []string{fmt.Sprintf("%s.%s requires spec.strategy.canary.trafficRouting", field, kind)}
	case step.Experiment != nil:
		return []string{field + ".experiment is not supported"}
	case step.Plugin != nil:
		return []string{field + ".plugin is not supported"}
	}
	return nil
}

func setStepFields(step v1alpha1.CanaryStep) []string {
	var set []string
	for name, isSet := range map[string]bool{
		"setWeight": step.SetWeight != nil, "pause": step.Pause != nil, "analysis": step.Analysis != nil,
		"setCanaryScale": step.SetCanaryScale != nil, "setHeaderRoute": step.SetHeaderRoute != nil,
		"setMirrorRoute": step.SetMirrorRoute != nil, "experiment": step.Experiment != nil, "plugin": step.Plugin != nil,
	} {
		if isSet {
			set = append(set, name)
		}
	}
	sort.Strings(set)
	return set
}

func validateCanaryScale(field string, s *v1alpha1.SetCanaryScale) []string {
	n := 0
	if s.Replicas != nil {
		n++
		if *s.Replicas < 0 {
			return []string{field + ".setCanaryScale.replicas must not be negative"}
		}
	}
	if s.Weight != nil {
		n++
		if *s.Weight < 0 || *s.Weight > 100 {
			return []string{fmt.Sprintf("%s.setCanaryScale.weight %d must be between 0 and 100", field, *s.Weight)}
		}
	}
	if s.MatchTrafficWeight {
		n++
	}
	if n != 1 {
		return []string{field + ".setCanaryScale must set exactly one of replicas, weight and matchTrafficWeight"}
	}
	return nil
}

func validateBlueGreen(b *v1alpha1.BlueGreenStrategy) []string {
	var errs []string
	if b.ActiveService == "" {
		errs = append(errs, "spec.strategy.blueGreen.activeService is required")
	}
	if b.PreviewService != "" && b.PreviewService == b.ActiveService {
		errs = append(errs, "spec.strategy.blueGreen.activeService and previewService must be different Services")
	}
	if b.PreviewReplicaCount != nil && *b.PreviewReplicaCount < 0 {
		errs = append(errs, "spec.strategy.blueGreen.previewReplicaCount must not be negative")
	}
	if b.AutoPromotionSeconds < 0 {
		errs = append(errs, "spec.strategy.blueGreen.autoPromotionSeconds must not be negative")
	}
	errs = append(errs, validatePercentOrCount("spec.strategy.blueGreen.maxUnavailable", b.GetMaxUnavailable())...)
	errs = append(errs, validateMetadata("spec.strategy.blueGreen.previewMetadata", b.PreviewMetadata)...)
	errs = append(errs, validateMetadata("spec.strategy.blueGreen.activeMetadata", b.ActiveMetadata)...)
	return errs
}

func validatePercentOrCount(field string, v intstr.IntOrString) []string {
	if _, err := intstr.GetScaledValueFromIntOrPercent(&v, 100, true); err != nil {
		return []string{fmt.Sprintf("%s %q: %v", field, v.String(), err)}
	}
	if v.Type == intstr.Int && v.IntVal < 0 {
		return []string{field + " must not be negative"}
	}
	return nil
}

func isZero(v intstr.IntOrString) bool {
	n, err := intstr.GetScaledValueFromIntOrPercent(&v, 100, true)
	return err == nil && n == 0
}

// validateMetadata rejects ephemeral labels that would change which pods a ReplicaSet selects.
func validateMetadata(field string, md *v1alpha1.PodTemplateMetadata) []string {
	if md == nil {
		return nil
	}
	if _, ok := md.Labels[v1alpha1.PodTemplateHashLabelKey]; ok {
		return []string{fmt.Sprintf("%s.labels must not set %s", field, v1alpha1.PodTemplateHashLabelKey)}
	}
	return nil
}
