package analysis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// NamedTemplate is the spec of an AnalysisTemplate, or of a ClusterAnalysisTemplate when
// ClusterScope is set, with its name for error messages.
type NamedTemplate struct {
	Name         string
	ClusterScope bool
	Spec         v1alpha1.AnalysisTemplateSpec
}

func (t NamedTemplate) String() string {
	if t.ClusterScope {
		return "ClusterAnalysisTemplate " + t.Name
	}
	return "AnalysisTemplate " + t.Name
}

// BuildRunSpec merges templates into one AnalysisRunSpec and fills their arguments with args.
//
//   - Metrics are concatenated in template order; a metric name defined twice is an error.
//   - Arguments are merged by name; two templates may declare one argument if they do not give
//     it different values. args then override the templates' values (an arg no template declares
//     is ignored, as in Argo Rollouts). Every argument must end with a value or a valueFrom, and
//     every {{args.NAME}} the metrics use must be declared: otherwise the error names it.
//   - dryRun and measurementRetention entries are merged by metric name (first one wins).
//
// Placeholders stay in the metrics and secretKeyRef arguments stay references: the AnalysisRun
// controller resolves them when it measures, so Secret values are never stored in the run.
func BuildRunSpec(templates []NamedTemplate, args []v1alpha1.Argument) (v1alpha1.AnalysisRunSpec, error) {
	var spec v1alpha1.AnalysisRunSpec
	if len(templates) == 0 {
		return spec, errors.New("no analysis templates")
	}
	definedBy := map[string]NamedTemplate{}
	for _, t := range templates {
		if len(t.Spec.Templates) > 0 {
			return spec, fmt.Errorf("%s: nested templates are not supported", t)
		}
		for _, m := range t.Spec.Metrics {
			if m.Provider.Job != nil {
				if problems := m.Provider.Job.TemplateProblems(); len(problems) > 0 {
					return spec, fmt.Errorf("metric %q of %s: invalid job pod template: %s", m.Name, t, strings.Join(problems, "; "))
				}
			}
			if prev, dup := definedBy[m.Name]; dup {
				return spec, fmt.Errorf("metric %q is defined by both %s and %s", m.Name, prev, t)
			}
			definedBy[m.Name] = t
			spec.Metrics = append(spec.Metrics, *m.DeepCopy())
		}
		spec.DryRun = mergeDryRun(spec.DryRun, t.Spec.DryRun)
		spec.MeasurementRetention = mergeRetention(spec.MeasurementRetention, t.Spec.MeasurementRetention)
	}
	merged, err := mergeTemplateArgs(templates)
	if err != nil {
		return spec, err
	}
	spec.Args = overrideArgs(merged, args)
	return spec, checkArgs(spec)
}

func mergeTemplateArgs(templates []NamedTemplate) ([]v1alpha1.Argument, error) {
	var out []v1alpha1.Argument
	declaredBy := map[string]int{}
	owner := map[string]NamedTemplate{}
	for _, t := range templates {
		for _, a := range t.Spec.Args {
			i, seen := declaredBy[a.Name]
			if !seen {
				declaredBy[a.Name], owner[a.Name] = len(out), t
				out = append(out, *a.DeepCopy())
				continue
			}
			prev := out[i]
			switch {
			case !argHasValue(a):
			case !argHasValue(prev):
				out[i] = *a.DeepCopy()
			case !argsEqual(prev, a):
				return nil, fmt.Errorf("argument %q has different values in %s and %s", a.Name, owner[a.Name], t)
			}
		}
	}
	return out, nil
}

func overrideArgs(merged, args []v1alpha1.Argument) []v1alpha1.Argument {
	for _, in := range args {
		for i := range merged {
			if merged[i].Name == in.Name && argHasValue(in) {
				merged[i] = *in.DeepCopy()
			}
		}
	}
	return merged
}

func checkArgs(spec v1alpha1.AnalysisRunSpec) error {
	declared := map[string]bool{}
	var missing []string
	for _, a := range spec.Args {
		declared[a.Name] = true
		if !argHasValue(a) {
			missing = append(missing, a.Name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("argument %s has no value: give one in the template or pass it in args", quoteJoin(missing))
	}
	var undeclared []string
	for _, name := range ReferencedArgs(spec.Metrics) {
		if !declared[name] {
			undeclared = append(undeclared, name)
		}
	}
	if len(undeclared) > 0 {
		return fmt.Errorf("metrics use argument %s that no template declares", quoteJoin(undeclared))
	}
	return nil
}

func quoteJoin(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

func argHasValue(a v1alpha1.Argument) bool {
	return a.Value != nil || (a.ValueFrom != nil && (a.ValueFrom.SecretKeyRef != nil || a.ValueFrom.FieldRef != nil))
}

func argsEqual(a, b v1alpha1.Argument) bool {
	switch {
	case a.Value != nil || b.Value != nil:
		return a.Value != nil && b.Value != nil && *a.Value == *b.Value
	case a.ValueFrom.SecretKeyRef != nil || b.ValueFrom.SecretKeyRef != nil:
		return a.ValueFrom.SecretKeyRef != nil && b.ValueFrom.SecretKeyRef != nil && *a.ValueFrom.SecretKeyRef == *b.ValueFrom.SecretKeyRef
	}
	return a.ValueFrom.FieldRef != nil && b.ValueFrom.FieldRef != nil && *a.ValueFrom.FieldRef == *b.ValueFrom.FieldRef
}

func mergeDryRun(into, more []v1alpha1.DryRun) []v1alpha1.DryRun {
	for _, d := range more {
		if !slices.Contains(into, d) {
			into = append(into, d)
		}
	}
	return into
}

func mergeRetention(into, more []v1alpha1.MeasurementRetention) []v1alpha1.MeasurementRetention {
	for _, r := range more {
		if !slices.ContainsFunc(into, func(x v1alpha1.MeasurementRetention) bool { return x.MetricName == r.MetricName }) {
			into = append(into, r)
		}
	}
	return into
}

// PodTemplateHashes are the pod template hashes a Rollout passes through
// valueFrom.podTemplateHashValue.
type PodTemplateHashes struct {
	Stable, Latest string
}

// RolloutArgs turns a Rollout's analysis arguments into run arguments: a literal value is kept,
// valueFrom.fieldRef is read from rollout (the Rollout as an unstructured map, see FieldValue) and
// valueFrom.podTemplateHashValue takes hashes.Stable or hashes.Latest.
func RolloutArgs(args []v1alpha1.AnalysisRunArgument, rollout map[string]any, hashes PodTemplateHashes) ([]v1alpha1.Argument, error) {
	out := make([]v1alpha1.Argument, 0, len(args))
	for _, a := range args {
		v := a.Value
		switch {
		case a.ValueFrom != nil && a.ValueFrom.PodTemplateHashValue != nil:
			switch *a.ValueFrom.PodTemplateHashValue {
			case v1alpha1.ValueFromPodTemplateHashStable:
				v = hashes.Stable
			case v1alpha1.ValueFromPodTemplateHashLatest:
				v = hashes.Latest
			default:
				return nil, fmt.Errorf("argument %q: podTemplateHashValue %q is neither Stable nor Latest", a.Name, *a.ValueFrom.PodTemplateHashValue)
			}
		case a.ValueFrom != nil && a.ValueFrom.FieldRef != nil:
			fv, err := FieldValue(rollout, a.ValueFrom.FieldRef.FieldPath)
			if err != nil {
				return nil, fmt.Errorf("argument %q: %w", a.Name, err)
			}
			v = fv
		}
		out = append(out, v1alpha1.Argument{Name: a.Name, Value: &v})
	}
	return out, nil
}

// BuildRolloutRunSpec builds the spec of an AnalysisRun for a Rollout's analysis (a step, the
// background analysis, or blue-green pre/post-promotion): the templates (in the order of
// ra.Templates, see GetTemplates) merged with BuildRunSpec, the Rollout's args resolved with
// RolloutArgs, and the Rollout's dryRun and measurementRetention added to the templates' (the
// Rollout's entries first, so they win).
func BuildRolloutRunSpec(templates []NamedTemplate, ra v1alpha1.RolloutAnalysis, rollout map[string]any, hashes PodTemplateHashes) (v1alpha1.AnalysisRunSpec, error) {
	args, err := RolloutArgs(ra.Args, rollout, hashes)
	if err != nil {
		return v1alpha1.AnalysisRunSpec{}, err
	}
	spec, err := BuildRunSpec(templates, args)
	if err != nil {
		return spec, err
	}
	spec.DryRun = mergeDryRun(slices.Clone(ra.DryRun), spec.DryRun)
	spec.MeasurementRetention = mergeRetention(slices.Clone(ra.MeasurementRetention), spec.MeasurementRetention)
	return spec, nil
}

// TemplateNotFoundError says a referenced template does not exist: a problem of the spec, unlike
// any other error reading it.
type TemplateNotFoundError struct{ msg string }

func (e *TemplateNotFoundError) Error() string { return e.msg }

// GetTemplates reads the templates refs name: AnalysisTemplates in namespace, or
// ClusterAnalysisTemplates for refs with clusterScope. A missing template is an error naming it.
func GetTemplates(ctx context.Context, c client.Reader, namespace string, refs []v1alpha1.AnalysisTemplateRef) ([]NamedTemplate, error) {
	out := make([]NamedTemplate, 0, len(refs))
	for _, ref := range refs {
		t := NamedTemplate{Name: ref.TemplateName, ClusterScope: ref.ClusterScope}
		var err error
		if ref.ClusterScope {
			var cat v1alpha1.ClusterAnalysisTemplate
			err = c.Get(ctx, client.ObjectKey{Name: ref.TemplateName}, &cat)
			t.Spec = cat.Spec
		} else {
			var at v1alpha1.AnalysisTemplate
			err = c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ref.TemplateName}, &at)
			t.Spec = at.Spec
		}
		if apierrors.IsNotFound(err) {
			where := ""
			if !ref.ClusterScope {
				where = " in namespace " + namespace
			}
			return nil, &TemplateNotFoundError{msg: fmt.Sprintf("%s not found%s", t, where)}
		}
		if err != nil {
			return nil, fmt.Errorf("get %s: %w", t, err)
		}
		out = append(out, t)
	}
	return out, nil
}
