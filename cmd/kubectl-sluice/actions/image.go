package actions

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// ParseImageArg splits CONTAINER=IMAGE; CONTAINER "*" means every container.
func ParseImageArg(arg string) (container, image string, err error) {
	container, image, ok := strings.Cut(arg, "=")
	if !ok || container == "" || image == "" || strings.Contains(image, "=") {
		return "", "", fmt.Errorf("want CONTAINER=IMAGE (or *=IMAGE), got %q", arg)
	}
	return container, image, nil
}

// SetImage sets the image of the named container ("*": all of them) among the init, regular and
// ephemeral containers of the pod template, as the Argo tools do. The merge patch carries the
// changed container lists whole (a merge patch replaces lists) and the resourceVersion that was
// read, so that a concurrent change of the template is a conflict to retry, never lost.
// A rollout with a workloadRef has no template of its own: that is an error.
func SetImage(ro *v1alpha1.Rollout, container, image string) (Result, error) {
	if ro.Spec.WorkloadRef != nil {
		return Result{}, fmt.Errorf("rollout '%s' takes its template from %s %s: set the image there", ro.Name, ro.Spec.WorkloadRef.Kind, ro.Spec.WorkloadRef.Name)
	}
	pod := ro.Spec.Template.Spec.DeepCopy()
	matches := func(name string) bool { return name == container || container == "*" }
	lists := map[string]any{}
	found, changed := false, false
	note := func(key string, list any, hit, diff bool) {
		found = found || hit
		if diff {
			changed = true
			lists[key] = list
		}
	}
	hit, diff := setImages(pod.InitContainers, matches, image)
	note("initContainers", pod.InitContainers, hit, diff)
	hit, diff = setImages(pod.Containers, matches, image)
	note("containers", pod.Containers, hit, diff)
	hit, diff = false, false
	for i := range pod.EphemeralContainers {
		if c := &pod.EphemeralContainers[i]; matches(c.Name) {
			hit, diff = true, diff || c.Image != image
			c.Image = image
		}
	}
	note("ephemeralContainers", pod.EphemeralContainers, hit, diff)
	if !found {
		return Result{}, fmt.Errorf("rollout '%s' has no container named %q (it has %s)", ro.Name, container, strings.Join(containerNames(ro.Spec.Template.Spec.Containers), ", "))
	}
	if !changed {
		return Result{Message: fmt.Sprintf("rollout '%s' already runs %s", ro.Name, image)}, nil
	}
	body := map[string]any{
		"metadata": map[string]any{"resourceVersion": ro.ResourceVersion},
		"spec":     map[string]any{"template": map[string]any{"spec": lists}},
	}
	return Result{
		Patches: []Patch{{Target: Spec, Type: MergePatch, Body: jsonBody(body)}},
		Message: fmt.Sprintf("rollout '%s' image updated: %s=%s", ro.Name, container, image),
	}, nil
}

// setImages sets image on the containers that match, and says whether any matched and whether
// any changed.
func setImages(cs []corev1.Container, matches func(string) bool, image string) (hit, changed bool) {
	for i := range cs {
		if matches(cs[i].Name) {
			hit, changed = true, changed || cs[i].Image != image
			cs[i].Image = image
		}
	}
	return hit, changed
}

func containerNames(cs []corev1.Container) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Name
	}
	return out
}
