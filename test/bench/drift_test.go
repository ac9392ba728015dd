package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Targets of bench/drift. They are reported, not enforced: a miss is logged.
const (
	driftP50Target    = 100 * time.Millisecond
	driftP99Target    = 500 * time.Millisecond
	driftWritesTarget = 1 // per edit, on the managed Deployments
)

// driftEditManager is the field manager of the hand edits, as the DriftReverted event names it.
const driftEditManager = "bench-kubectl-scale"

// BenchmarkDrift (bench/drift): one GitSync (automated, prune, selfHeal, interval 1h) of 100
// Deployments of 1 replica. Once synced and idle, 50 hand edits, one at a time, each on a
// different Deployment (so that self-heal never backs off from a fight), 100–300 ms apart: the
// edit is `kubectl scale --replicas=2`, a merge patch of spec.replicas through the scale
// subresource. For each it measures edit -> reverted: from the moment the edit call returned to
// the arrival, on a watch of the namespace's Deployments that the benchmark runs, of the edited
// Deployment back at spec.replicas 1 (Git's value). It reports the p50 and p99, the controller's
// writes per edit on the managed resources (create/update/patch/delete of deployments), its
// events and gitsyncs/status writes separately, the other requests by verb, its reconciles of the
// GitSync, and the DriftReverted events found in the namespace.
func BenchmarkDrift(b *testing.B) {
	const deployments, edits = 100, 50
	const revertTimeout = 30 * time.Second
	c := gitSyncClient(b)
	ctrl := startGitSyncController(b)
	ns := newBenchNamespace(b)

	srv, repo := newConfigRepo(b)
	files := map[string]string{}
	for i := range deployments {
		name := fmt.Sprintf("web-%03d", i)
		files["app/"+name+".yaml"] = benchDeploymentYAML(name, "1")
	}
	rev := commitFiles(b, repo, files, "100 Deployments")
	start := time.Now()
	gs := createBenchGitSync(b, c, ns, srv.URL("config"), true)
	_, firstSync := waitSyncedHealthy(b, c, ns, gs.Name, rev, start, 5*time.Minute)
	reconciles := gitSyncReconciles(b, ctrl)
	waitReconcilesQuiet(b, reconciles)

	stream := watchNamespace(b, c, ns, &appsv1.DeploymentList{})
	rng := rand.New(rand.NewPCG(1, 2)) // the same edits and gaps every run
	order := rng.Perm(deployments)[:edits]
	drift := func() float64 { return ctrl.metricSum(b, "sluice_gitsync_drift_total", "") }

	kindsBefore, cpuBefore, reconcilesBefore, driftBefore := ctrl.requestsByKind(b), ctrl.cpuSeconds(b), reconciles(), drift()
	var latencies []time.Duration
	var perEditWrites []float64
	var missed []string
	prev := kindsBefore
	for _, i := range order {
		name := fmt.Sprintf("web-%03d", i)
		editAt, editRV := scaleDeployment(b, c, ns, name, 2)
		_, ok := stream.until(revertTimeout, revertedAfter(name, editRV, func(at time.Time) {
			latencies = append(latencies, at.Sub(editAt))
		}))
		if !ok {
			missed = append(missed, name)
		}
		time.Sleep(time.Duration(100+rng.IntN(201)) * time.Millisecond)
		now := ctrl.requestsByKind(b)
		perEditWrites = append(perEditWrites, countResourceWrites(prev, now, "deployments"))
		prev = now
	}
	// Let the last revert's event and the drift checks of the reverts themselves finish.
	time.Sleep(2 * time.Second)
	kindsAfter, cpuAfter := ctrl.requestsByKind(b), ctrl.cpuSeconds(b)

	reverted := float64(len(latencies))
	extra := map[string]float64{
		"deployments":                          deployments,
		"edits":                                edits,
		"edits reverted":                       reverted,
		"first sync: created -> Healthy (s)":   firstSync.Seconds(),
		"writes per edit, deployments":         countResourceWrites(kindsBefore, kindsAfter, "deployments") / edits,
		"writes per edit (not events, status)": countWrites(kindsBefore, kindsAfter) / edits,
		"events writes per edit":               countResourceWrites(kindsBefore, kindsAfter, "events") / edits,
		"gitsyncs/status writes per edit":      countStatusWrites(kindsBefore, kindsAfter) / edits,
		"gitsync reconciles during the edits":  reconciles() - reconcilesBefore,
		"drift seen per edit (drift_total)":    (drift() - driftBefore) / edits,
		"controller CPU during the edits (s)":  cpuAfter - cpuBefore,
		"peak RSS (MiB)":                       ctrl.peakRSS(b),
	}
	evObjects, evCount := driftRevertedEvents(b, ns)
	extra["DriftReverted Event objects in the namespace"] = float64(evObjects)
	extra["DriftReverted occurrences (series counts)"] = float64(evCount)
	extra["API requests per edit"] = requestTotals("API requests per edit, ", scaled(kindsBefore, 1.0/edits), scaled(kindsAfter, 1.0/edits), extra)
	ms := millis(latencies)
	sortFloats(ms)
	p50, p99 := percentile(ms, 50), percentile(ms, 99)
	extra["edit -> reverted p50 (ms)"] = p50
	extra["edit -> reverted p99 (ms)"] = p99
	extra["target: p50 (ms)"] = float64(driftP50Target / time.Millisecond)
	extra["target: p99 (ms)"] = float64(driftP99Target / time.Millisecond)
	extra["target: writes per edit"] = driftWritesTarget
	report(b, "bench/drift", map[string]stats{
		"edit -> reverted (ms)":              summarize(ms),
		"deployments writes per edit window": summarize(perEditWrites),
	}, extra)

	if len(missed) > 0 {
		b.Errorf("%d of %d edits were not reverted within %s: %s", len(missed), edits, revertTimeout, strings.Join(missed, ", "))
	}
	if p50 >= float64(driftP50Target/time.Millisecond) || p99 >= float64(driftP99Target/time.Millisecond) {
		b.Logf("target missed: edit -> reverted p50 %.1f ms, p99 %.1f ms (targets < %s, < %s)", p50, p99, driftP50Target, driftP99Target)
	}
	if evCount != edits {
		b.Logf("surprise: %d reverts, but the namespace's DriftReverted events record %d (in %d Event objects)", len(latencies), evCount, evObjects)
	}
	if w := extra["writes per edit, deployments"]; w != driftWritesTarget {
		b.Logf("target missed: %.2f writes per edit on the Deployments (target %d)", w, driftWritesTarget)
	}
}

// scaleDeployment is `kubectl scale`: a merge patch of spec.replicas through the scale
// subresource. It returns when the call returned and the resourceVersion it wrote.
func scaleDeployment(b *testing.B, c client.Client, ns, name string, replicas int32) (time.Time, string) {
	b.Helper()
	scale := &autoscalingv1.Scale{}
	patch := fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, replicas)
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	err := c.SubResource("scale").Patch(context.Background(), dep, client.RawPatch(types.MergePatchType, patch),
		client.WithSubResourceBody(scale), client.FieldOwner(driftEditManager))
	at := time.Now()
	if err != nil {
		b.Fatalf("scale %s: %v", name, err)
	}
	if scale.Spec.Replicas != replicas {
		b.Fatalf("scale %s: the scale subresource answered %d replicas, want %d", name, scale.Spec.Replicas, replicas)
	}
	return at, scale.ResourceVersion
}

// revertedAfter is a stream condition: the Deployment name seen with the edit (resourceVersion
// editRV, or 2 replicas), then seen back at 1 replica; done is called with that arrival.
func revertedAfter(name, editRV string, done func(at time.Time)) func(client.Object, time.Time) bool {
	seenEdit := false
	return func(obj client.Object, at time.Time) bool {
		d, ok := obj.(*appsv1.Deployment)
		if !ok || d.Name != name {
			return false
		}
		replicas := int32(1)
		if d.Spec.Replicas != nil {
			replicas = *d.Spec.Replicas
		}
		if !seenEdit {
			seenEdit = d.ResourceVersion == editRV || replicas != 1
			return false
		}
		if replicas == 1 {
			done(at)
			return true
		}
		return false
	}
}

// driftRevertedEvents counts the DriftReverted Event objects in ns and the occurrences they
// record (series counts included), and logs each.
func driftRevertedEvents(b *testing.B, ns string) (objects, occurrences int) {
	b.Helper()
	var list eventsv1.EventList
	if err := env.client.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		b.Logf("list events: %v", err)
		return -1, -1
	}
	for _, ev := range list.Items {
		if ev.Reason != "DriftReverted" {
			continue
		}
		objects++
		count := 1
		if ev.Series != nil {
			count = int(ev.Series.Count)
		}
		occurrences += count
		b.Logf("event %s: %s %s (count %d): %s", ev.Name, ev.Type, ev.Reason, count, ev.Note)
	}
	return objects, occurrences
}
