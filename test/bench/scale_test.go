package bench

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// BenchmarkScale (bench/scale): 300 Rollouts of 2 replicas with steps [50%, pause 1s] in one
// namespace, all updated at once. It reports the time until every one is Healthy again, the
// per-rollout p50/p90 and first completion, the controller's peak RSS and CPU seconds over the
// update, and its API requests and info log lines per rollout update.
func BenchmarkScale(b *testing.B) {
	const n = 300
	ctx := context.Background()
	ctrl := startController(b)
	ns := newBenchNamespace(b)
	one := intstr.FromString("1s")
	steps := []v1alpha1.CanaryStep{{SetWeight: ptr.To[int32](50)}, {Pause: &v1alpha1.RolloutPause{Duration: &one}}}
	for i := range n {
		if err := env.client.Create(ctx, benchRollout(ns, fmt.Sprintf("svc-%03d", i), 2, steps)); err != nil {
			b.Fatal(err)
		}
	}
	waitAll(b, ns, n, "", 5*time.Minute)

	kindsBefore, linesBefore, cpuBefore := ctrl.requestsByKind(b), ctrl.logLines(), ctrl.cpuSeconds(b)
	start := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 20)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			setBenchImage(b, ns, fmt.Sprintf("svc-%03d", i), "app:2")
		}()
	}
	wg.Wait()
	updated := time.Since(start)
	done := waitAll(b, ns, n, "app:2", 10*time.Minute)
	total := time.Since(start)
	var per []float64
	for _, t := range done {
		per = append(per, t.Sub(start).Seconds())
	}
	sorted := summarize(per)
	extra := map[string]float64{
		"rollouts":                       n,
		"all image changes sent (s)":     updated.Seconds(),
		"all Healthy again (s)":          total.Seconds(),
		"first rollout Healthy (s)":      sorted.Min,
		"p50 rollout Healthy (s)":        percentileOf(per, 50),
		"p90 rollout Healthy (s)":        percentileOf(per, 90),
		"controller CPU over update (s)": ctrl.cpuSeconds(b) - cpuBefore,
		"controller peak RSS (MiB)":      ctrl.peakRSS(b),
		"info log lines per update":      float64(ctrl.logLines()-linesBefore) / n,
	}
	extra["API requests per rollout update"] = requestRows(kindsBefore, ctrl.requestsByKind(b), n, extra)
	report(b, "bench/scale", map[string]stats{
		"per-rollout image change -> Healthy (s)": sorted,
	}, extra)
}

func percentileOf(xs []float64, p float64) float64 {
	sorted := append([]float64{}, xs...)
	sortFloats(sorted)
	return percentile(sorted, p)
}

// waitAll follows the namespace's Rollouts with a watch until n are Healthy on image (any image
// when empty) and returns when each was first seen so.
func waitAll(b *testing.B, ns string, n int, image string, timeout time.Duration) map[string]time.Time {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	done := map[string]time.Time{}
	check := func(ro *v1alpha1.Rollout, now time.Time) {
		if _, seen := done[ro.Name]; seen {
			return
		}
		if ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.ObservedGeneration == fmt.Sprint(ro.Generation) &&
			(image == "" || (ro.Spec.Template.Spec.Containers[0].Image == image && ro.Status.StableRS == ro.Status.CurrentPodHash)) {
			done[ro.Name] = now
		}
	}
	var list v1alpha1.RolloutList
	if err := env.client.List(ctx, &list, client.InNamespace(ns)); err != nil {
		b.Fatalf("list rollouts: %v", err)
	}
	for i := range list.Items {
		check(&list.Items[i], time.Now())
	}
	w, err := env.client.Watch(ctx, &v1alpha1.RolloutList{}, client.InNamespace(ns), &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.ResourceVersion}})
	if err != nil {
		b.Fatalf("watch rollouts: %v", err)
	}
	defer w.Stop()
	for len(done) < n {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				b.Fatalf("watch closed with %d of %d rollouts Healthy", len(done), n)
			}
			if ro, isRollout := ev.Object.(*v1alpha1.Rollout); isRollout {
				check(ro, time.Now())
			}
		case <-ctx.Done():
			b.Fatalf("timed out with %d of %d rollouts Healthy", len(done), n)
		}
	}
	return done
}
