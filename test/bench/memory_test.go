package bench

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// BenchmarkMemory (bench/memory): the controller's heap as Rollouts are added, for the sizing in
// docs/operations.md. Next to them sit 1,000 ReplicaSets no Rollout owns (a cluster's
// Deployments'), which the manager's label-filtered cache leaves out. It reads the heap with no
// Rollouts, then with 200 and 1,000 Healthy Rollouts of one replica each (no steps), and reports
// the heap in use and the resident set at each point and the heap per 1,000 Rollouts.
//
// The controller is a separate process, so the heap comes from its metrics endpoint: the lowest
// go_memstats_heap_inuse_bytes over 20 scrapes a second apart, once the Rollouts are Healthy and
// the controller has had 10 s to settle (the low point follows a garbage collection).
// BENCH_MEMORY_BIN runs another build of the controller instead (to compare builds).
func BenchmarkMemory(b *testing.B) {
	if bin := os.Getenv("BENCH_MEMORY_BIN"); bin != "" {
		env.bin = bin
	}
	const unrelated = 1000
	ns := newBenchNamespace(b)
	createAll(b, unrelated, func(i int) error {
		return env.client.Create(context.Background(), unrelatedReplicaSet(ns, fmt.Sprintf("other-%04d", i)))
	})
	ctrl := startController(b)

	extra := map[string]float64{"unrelated ReplicaSets": unrelated}
	heap0, rss0 := ctrl.settledHeap(b)
	extra["heap in use, 0 Rollouts (MiB)"], extra["RSS, 0 Rollouts (MiB)"] = heap0, rss0
	created := 0
	var heap float64
	for _, n := range []int{200, 1000} {
		from := created
		createAll(b, n-from, func(i int) error {
			name := fmt.Sprintf("svc-%04d", from+i)
			return env.client.Create(context.Background(), benchRollout(ns, name, 1, nil))
		})
		created = n
		waitAll(b, ns, n, "", 10*time.Minute)
		var rss float64
		heap, rss = ctrl.settledHeap(b)
		extra[fmt.Sprintf("heap in use, %d Rollouts (MiB)", n)] = heap
		extra[fmt.Sprintf("RSS, %d Rollouts (MiB)", n)] = rss
	}
	extra["heap per 1,000 Rollouts (MiB)"] = (heap - heap0) * 1000 / float64(created)
	extra["controller peak RSS (MiB)"] = ctrl.peakRSS(b)
	report(b, "bench/memory", map[string]stats{}, extra)
}

// createAll runs create for 0..n-1, 20 at a time.
func createAll(b *testing.B, n int, create func(i int) error) {
	b.Helper()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 20)
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := create(i); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatalf("create: %v", err)
	}
}

// unrelatedReplicaSet is a ReplicaSet of no Rollout, without the rollouts-pod-template-hash
// label, scaled to zero.
func unrelatedReplicaSet(ns, name string) *appsv1.ReplicaSet {
	labels := map[string]string{"app": name, "pod-template-hash": "5d8f7c9b4"}
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To[int32](0),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
			},
		},
	}
}

// settledHeap waits 10 s, then returns the lowest heap in use (MiB) over 20 scrapes a second
// apart, and the resident set (MiB) at the end. The metrics server may start after the readiness
// probe answers: scrapes may fail while settling, not after.
func (c *controller) settledHeap(b *testing.B) (heapMiB, rssMiB float64) {
	b.Helper()
	settled := time.Now().Add(10 * time.Second)
	for {
		_, err := c.metricValue("go_memstats_heap_inuse_bytes")
		if err == nil && time.Now().After(settled) {
			break
		}
		if time.Now().After(settled.Add(30 * time.Second)) {
			b.Fatalf("read controller metrics: %v", err)
		}
		time.Sleep(time.Second)
	}
	low := math.Inf(1)
	for range 20 {
		v, err := c.metricValue("go_memstats_heap_inuse_bytes")
		if err != nil {
			b.Fatalf("read controller metrics: %v", err)
		}
		low = math.Min(low, v)
		time.Sleep(time.Second)
	}
	return low / (1 << 20), c.statusMiB(b, "VmRSS:")
}

// metricValue reads one unlabelled metric from the controller's metrics endpoint.
func (c *controller) metricValue(name string) (float64, error) {
	resp, err := http.Get("http://" + c.metrics + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == name {
			return strconv.ParseFloat(f[1], 64)
		}
	}
	return 0, fmt.Errorf("the controller's metrics have no %s", name)
}

// statusMiB reads a kB field of the controller's /proc status in MiB.
func (c *controller) statusMiB(b *testing.B, field string) float64 {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		b.Fatalf("read controller status: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, field) {
			kb, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			return kb / 1024
		}
	}
	b.Fatalf("controller status has no %s", field)
	return 0
}
