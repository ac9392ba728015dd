package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// BenchmarkStepOverhead (bench/step-overhead): the 4-replica canary of the e2e test — steps 25%,
// pause 2s, 50%, pause 2s — updated 5 times. It reports the time from the image change to Healthy
// minus the 4 s of declared pauses (the controller's own overhead), and each pause's real length.
func BenchmarkStepOverhead(b *testing.B) {
	ctx := context.Background()
	ctrl := startController(b)
	ns := newBenchNamespace(b)
	two := intstr.FromString("2s")
	ro := benchRollout(ns, "steps", 4, []v1alpha1.CanaryStep{
		{SetWeight: ptr.To[int32](25)}, {Pause: &v1alpha1.RolloutPause{Duration: &two}},
		{SetWeight: ptr.To[int32](50)}, {Pause: &v1alpha1.RolloutPause{Duration: &two}},
	})
	if err := env.client.Create(ctx, ro); err != nil {
		b.Fatal(err)
	}
	waitHealthy(b, ns, "steps")

	var overhead, pauses []float64
	const repeats = 5
	startReq := ctrl.requests(b)
	startLines := ctrl.logLines()
	for i := range repeats {
		total, paused := timeUpdate(b, ns, "steps", fmt.Sprintf("app:%d", i+2))
		overhead = append(overhead, (total - 4*time.Second).Seconds())
		for _, p := range paused {
			pauses = append(pauses, p.Seconds())
		}
	}
	report(b, "bench/step-overhead", map[string]stats{
		"image change -> Healthy minus 4s of pauses (s)": summarize(overhead),
		"real length of each 2s pause (s)":               summarize(pauses),
	}, map[string]float64{
		"API requests per update":            (ctrl.requests(b) - startReq) / repeats,
		"info log lines per update":          float64(ctrl.logLines()-startLines) / repeats,
		"controller CPU seconds (whole run)": ctrl.cpuSeconds(b),
	})
}

// timeUpdate sets the image and follows the Rollout with a watch until it is Healthy on the new
// template. It returns the total time and the real length of every pause.
func timeUpdate(b *testing.B, ns, name, image string) (time.Duration, []time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w, err := env.client.Watch(ctx, &v1alpha1.RolloutList{}, client.InNamespace(ns),
		&client.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name)})
	if err != nil {
		b.Fatalf("watch rollout: %v", err)
	}
	defer w.Stop()
	start := time.Now()
	setBenchImage(b, ns, name, image)
	var pauseStart time.Time
	var paused []time.Duration
	oldHash := ""
	for ev := range w.ResultChan() {
		ro, ok := ev.Object.(*v1alpha1.Rollout)
		if !ok {
			continue
		}
		now := time.Now()
		if oldHash == "" {
			oldHash = ro.Status.StableRS
		}
		isPaused := len(ro.Status.PauseConditions) > 0
		switch {
		case isPaused && pauseStart.IsZero():
			pauseStart = now
		case !isPaused && !pauseStart.IsZero():
			paused = append(paused, now.Sub(pauseStart))
			pauseStart = time.Time{}
		}
		if ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.StableRS != oldHash &&
			ro.Status.ObservedGeneration == fmt.Sprint(ro.Generation) {
			return now.Sub(start), paused
		}
	}
	b.Fatalf("rollout %s did not become Healthy on %s", name, image)
	return 0, nil
}

func newBenchNamespace(b *testing.B) string {
	b.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-"}}
	if err := env.client.Create(context.Background(), ns); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		// The next benchmark's controller must not find this one's Rollouts: wait until the
		// namespace and everything in it is gone.
		_ = env.client.Delete(context.Background(), ns)
		waitFor(b, 10*time.Minute, "namespace "+ns.Name+" to be deleted", func() bool {
			err := env.client.Get(context.Background(), types.NamespacedName{Name: ns.Name}, &corev1.Namespace{})
			return apierrors.IsNotFound(err)
		})
	})
	waitFor(b, 30*time.Second, "default ServiceAccount", func() bool {
		return env.client.Get(context.Background(), types.NamespacedName{Namespace: ns.Name, Name: "default"}, &corev1.ServiceAccount{}) == nil
	})
	return ns.Name
}

func benchRollout(ns, name string, replicas int32, steps []v1alpha1.CanaryStep) *v1alpha1.Rollout {
	labels := map[string]string{"app": name}
	return &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.RolloutSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
			},
			Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{Steps: steps}},
		},
	}
}

func setBenchImage(b *testing.B, ns, name, image string) {
	patch := fmt.Appendf(nil, `{"spec":{"template":{"spec":{"containers":[{"name":"app","image":%q}]}}}}`, image)
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if err := env.client.Patch(context.Background(), ro, client.RawPatch(types.MergePatchType, patch)); err != nil {
		b.Fatalf("set image of %s: %v", name, err)
	}
}

func waitHealthy(b *testing.B, ns, name string) {
	b.Helper()
	waitFor(b, 2*time.Minute, "rollout "+name+" Healthy", func() bool {
		ro := &v1alpha1.Rollout{}
		if err := env.client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, ro); err != nil {
			return false
		}
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.ObservedGeneration == fmt.Sprint(ro.Generation)
	})
}
