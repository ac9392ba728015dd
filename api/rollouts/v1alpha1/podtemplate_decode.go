package v1alpha1

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Like Argo Rollouts' CRDs, ours leave the resource lists of a pod template's containers and
// its volumes unchecked by the API server (hack/crdpatch), so that `cpu: 0.001` written as a
// YAML number is accepted as it is in a Pod. The price is that a malformed quantity ("abc")
// reaches the controller too, and resource.Quantity refuses to decode it: a plain decode would
// fail the whole object, and one such Rollout would keep every Rollout out of the informer
// cache (a list is decoded as a whole). So the kinds that hold a pod template decode it here:
// a template that decodes is taken as is; one that does not is decoded again without its
// malformed quantities, and what was wrong is kept, with the field path, for the controller to
// report (a Rollout's InvalidSpec). The object stays visible and usable.

// rolloutSpecFields has RolloutSpec's fields and none of its methods, so that decoding into it
// does not call RolloutSpec.UnmarshalJSON again.
type rolloutSpecFields RolloutSpec

// UnmarshalJSON decodes a RolloutSpec, keeping the problems of a template that does not
// decode (TemplateProblems) instead of failing.
func (s *RolloutSpec) UnmarshalJSON(data []byte) error {
	s.templateProblems = nil
	raw, err := decodeAllBut(data, (*rolloutSpecFields)(s), "template")
	if err != nil || raw == nil {
		return err
	}
	s.Template, s.templateProblems = decodePodTemplate[corev1.PodTemplateSpec](raw, "spec.template")
	return nil
}

// TemplateProblems lists what kept spec.template from decoding as written, one message per
// problem naming the field, e.g. `spec.template.spec.containers[0].resources.limits.cpu:
// Invalid value: "abc": quantities must match ... (container "web")`. The values named are
// left out of Template. Empty when the template decoded as written.
func (s *RolloutSpec) TemplateProblems() []string {
	return append([]string(nil), s.templateProblems...)
}

type experimentTemplateSpecFields ExperimentTemplateSpec

// UnmarshalJSON decodes an ExperimentTemplateSpec as RolloutSpec.UnmarshalJSON does.
func (t *ExperimentTemplateSpec) UnmarshalJSON(data []byte) error {
	t.templateProblems = nil
	raw, err := decodeAllBut(data, (*experimentTemplateSpecFields)(t), "template")
	if err != nil || raw == nil {
		return err
	}
	t.Template, t.templateProblems = decodePodTemplate[corev1.PodTemplateSpec](raw, "template")
	return nil
}

// TemplateProblems lists what kept the template from decoding as written, with field paths
// relative to the experiment template (template.spec.containers[0]...).
func (t *ExperimentTemplateSpec) TemplateProblems() []string {
	return append([]string(nil), t.templateProblems...)
}

type jobMetricFields JobMetric

// UnmarshalJSON decodes a JobMetric as RolloutSpec.UnmarshalJSON does for the Job's pod
// template.
func (j *JobMetric) UnmarshalJSON(data []byte) error {
	j.templateProblems = nil
	raw, err := decodeAllBut(data, (*jobMetricFields)(j), "spec")
	if err != nil || raw == nil {
		return err
	}
	j.Spec, j.templateProblems = decodePodTemplate[batchv1.JobSpec](raw, "spec", "template")
	return nil
}

// TemplateProblems lists what kept the Job's pod template from decoding as written, with
// field paths relative to the job metric (spec.template.spec.containers[0]...).
func (j *JobMetric) TemplateProblems() []string {
	return append([]string(nil), j.templateProblems...)
}

// decodeAllBut decodes data into fields, a pointer to a method-less struct. When that fails,
// it decodes data again without key (an error then is the caller's, and names its field as
// usual) and returns the raw value under key, which the caller decodes itself; nil when data
// decoded as it is or has no key.
func decodeAllBut(data []byte, fields any, key string) (json.RawMessage, error) {
	if err := utiljson.Unmarshal(data, fields); err == nil {
		return nil, nil
	}
	var obj map[string]json.RawMessage
	if err := utiljson.Unmarshal(data, &obj); err != nil {
		return nil, err
	}
	raw := obj[key]
	delete(obj, key)
	rest, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	if err := utiljson.Unmarshal(rest, fields); err != nil {
		return nil, err
	}
	return raw, nil
}

// decodePodTemplate decodes raw into a T that is, or holds at the keys templateAt, a pod
// template. When raw does not decode as it is, the malformed quantities of the template are
// dropped and reported, and what still does not decode is reported as a whole.
func decodePodTemplate[T any](raw json.RawMessage, path string, templateAt ...string) (T, []string) {
	var out T
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return out, nil
	}
	if err := utiljson.Unmarshal(raw, &out); err == nil {
		return out, nil
	}
	out = *new(T)
	var obj map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // keep numbers as written, for the quantity parser and for the second decode
	if err := dec.Decode(&obj); err != nil {
		return out, []string{fmt.Sprintf("%s: %v", path, err)}
	}
	tmpl, tmplPath := obj, path
	for _, key := range templateAt {
		tmpl, _ = tmpl[key].(map[string]any)
		tmplPath += "." + key
	}
	var problems []string
	if tmpl != nil {
		problems = dropBadQuantities(tmpl, field.NewPath(tmplPath))
	}
	cleaned, err := json.Marshal(obj)
	if err == nil {
		err = utiljson.Unmarshal(cleaned, &out)
	}
	if err != nil {
		problems = append(problems, fmt.Sprintf("%s: %v", path, err))
	}
	return out, problems
}

// dropBadQuantities removes from a pod template (as decoded JSON) each quantity that
// resource.Quantity does not accept in the fields our CRDs leave unchecked, and returns one
// message per removed value.
func dropBadQuantities(tmpl map[string]any, path *field.Path) []string {
	spec, _ := tmpl["spec"].(map[string]any)
	if spec == nil {
		return nil
	}
	specPath := path.Child("spec")
	var problems []string
	for _, kind := range []string{"initContainers", "containers", "ephemeralContainers"} {
		containers, _ := spec[kind].([]any)
		for i, c := range containers {
			container, _ := c.(map[string]any)
			resources, _ := container["resources"].(map[string]any)
			name, _ := container["name"].(string)
			problems = append(problems, dropBadResourceLists(resources, specPath.Child(kind).Index(i).Child("resources"), fmt.Sprintf(" (container %q)", name))...)
		}
	}
	resources, _ := spec["resources"].(map[string]any)
	problems = append(problems, dropBadResourceLists(resources, specPath.Child("resources"), "")...)
	volumes, _ := spec["volumes"].([]any)
	for i, v := range volumes {
		volume, _ := v.(map[string]any)
		problems = append(problems, dropBadVolumeQuantities(volume, specPath.Child("volumes").Index(i))...)
	}
	return problems
}

func dropBadVolumeQuantities(volume map[string]any, path *field.Path) []string {
	if volume == nil {
		return nil
	}
	var problems []string
	if emptyDir, _ := volume["emptyDir"].(map[string]any); emptyDir != nil {
		problems = append(problems, dropBadQuantity(emptyDir, "sizeLimit", path.Child("emptyDir", "sizeLimit"), "")...)
	}
	claimSpec, _ := nested(volume, "ephemeral", "volumeClaimTemplate", "spec").(map[string]any)
	resources, _ := nested(claimSpec, "resources").(map[string]any)
	problems = append(problems, dropBadResourceLists(resources, path.Child("ephemeral", "volumeClaimTemplate", "spec", "resources"), "")...)
	items, _ := nested(volume, "downwardAPI", "items").([]any)
	problems = append(problems, dropBadDivisors(items, path.Child("downwardAPI", "items"))...)
	sources, _ := nested(volume, "projected", "sources").([]any)
	for i, s := range sources {
		source, _ := s.(map[string]any)
		items, _ := nested(source, "downwardAPI", "items").([]any)
		problems = append(problems, dropBadDivisors(items, path.Child("projected", "sources").Index(i).Child("downwardAPI", "items"))...)
	}
	return problems
}

func dropBadDivisors(items []any, path *field.Path) []string {
	var problems []string
	for i, it := range items {
		ref, _ := nested(it, "resourceFieldRef").(map[string]any)
		if ref != nil {
			problems = append(problems, dropBadQuantity(ref, "divisor", path.Index(i).Child("resourceFieldRef", "divisor"), "")...)
		}
	}
	return problems
}

// dropBadResourceLists checks the limits and requests of a resources block; owner (" (container
// \"web\")") ends each message.
func dropBadResourceLists(resources map[string]any, path *field.Path, owner string) []string {
	if resources == nil {
		return nil
	}
	var problems []string
	for _, key := range []string{"limits", "requests"} {
		value, ok := resources[key]
		if !ok || value == nil {
			continue
		}
		list, isMap := value.(map[string]any)
		if !isMap {
			problems = append(problems, field.Invalid(path.Child(key), badValue(value), "must be a map of resource names to quantities").Error()+owner)
			delete(resources, key)
			continue
		}
		names := make([]string, 0, len(list))
		for name := range list {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			problems = append(problems, dropBadQuantity(list, name, path.Child(key, name), owner)...)
		}
	}
	return problems
}

// dropBadQuantity checks obj[key] the way resource.Quantity decodes it from JSON (a string or
// a number, parsed without surrounding spaces; null is the zero quantity) and removes it when
// it does not parse; owner ends the message.
func dropBadQuantity(obj map[string]any, key string, path *field.Path, owner string) []string {
	value, ok := obj[key]
	if !ok || value == nil {
		return nil
	}
	var text string
	switch v := value.(type) {
	case string:
		text = v
	case json.Number:
		text = v.String()
	default:
		delete(obj, key)
		return []string{field.Invalid(path, badValue(value), "must be a quantity, a string or a number").Error() + owner}
	}
	if _, err := resource.ParseQuantity(strings.TrimSpace(text)); err != nil {
		delete(obj, key)
		return []string{field.Invalid(path, value, err.Error()).Error() + owner}
	}
	return nil
}

// badValue is a decoded JSON value as field.Invalid prints it best: objects and arrays as
// JSON text.
func badValue(v any) any {
	switch v.(type) {
	case map[string]any, []any:
		data, err := json.Marshal(v)
		if err == nil {
			return string(data)
		}
	}
	return v
}

// nested walks decoded JSON objects by key; nil when a step is missing or not an object.
func nested(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}
