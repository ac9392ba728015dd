package render

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }

// fixture builds a rollout named name with its ReplicaSets and pods; each revision is
// (revision, hash, image, replicas).
type rev struct {
	n        int
	hash     string
	image    string
	replicas int32
	ready    int32
}

func fixture(name string, strategy v1alpha1.RolloutStrategy, status v1alpha1.RolloutStatus, revs ...rev) Objects {
	ro := &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", Generation: 3, CreationTimestamp: ago(72 * time.Hour)},
		Spec: v1alpha1.RolloutSpec{
			Replicas: ptr.To(int32(4)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Strategy: strategy,
		},
		Status: status,
	}
	ro.Status.ObservedGeneration = "3"
	objs := Objects{Rollout: ro}
	for _, r := range revs {
		rsName := name + "-" + r.hash
		rs := appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{
				Name: rsName, Namespace: "shop", CreationTimestamp: ago(time.Duration(10-r.n) * time.Hour),
				Labels:      map[string]string{"app": name, v1alpha1.PodTemplateHashLabelKey: r.hash},
				Annotations: map[string]string{v1alpha1.RevisionAnnotationKey: fmt.Sprint(r.n)},
			},
			Spec: appsv1.ReplicaSetSpec{
				Replicas: ptr.To(r.replicas),
				Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: r.image}}}},
			},
			Status: appsv1.ReplicaSetStatus{Replicas: r.replicas, ReadyReplicas: r.ready, AvailableReplicas: r.ready},
		}
		objs.ReplicaSets = append(objs.ReplicaSets, rs)
		for i := int32(0); i < r.replicas; i++ {
			objs.Pods = append(objs.Pods, pod(rsName, i, i < r.ready, time.Duration(10-r.n)*time.Hour))
		}
	}
	return objs
}

func pod(rs string, i int32, ready bool, age time.Duration) corev1.Pod {
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("%s-%c%c%c%c%c", rs, 'a'+i, 'b'+i, 'x', 'k'+i, 'q'), Namespace: "shop", CreationTimestamp: ago(age),
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs, Controller: ptr.To(true)}},
		},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}},
		Status: corev1.PodStatus{
			Phase:             corev1.PodRunning,
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: ready}},
		},
	}
}

func steps() []v1alpha1.CanaryStep {
	pause := intstr.FromString("1h")
	return []v1alpha1.CanaryStep{
		{SetWeight: ptr.To(int32(25))}, {Pause: &v1alpha1.RolloutPause{}},
		{SetWeight: ptr.To(int32(50))}, {Pause: &v1alpha1.RolloutPause{Duration: &pause}},
	}
}

func run(name, hash, step string, phase v1alpha1.AnalysisPhase, metrics ...v1alpha1.MetricResult) v1alpha1.AnalysisRun {
	labels := map[string]string{v1alpha1.PodTemplateHashLabelKey: hash, v1alpha1.RolloutTypeLabel: v1alpha1.RolloutTypeStepLabel}
	if step == "" {
		labels[v1alpha1.RolloutTypeLabel] = v1alpha1.RolloutTypeBackgroundRunLabel
	} else {
		labels[v1alpha1.RolloutCanaryStepIndexLabel] = step
	}
	return v1alpha1.AnalysisRun{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", CreationTimestamp: ago(3 * time.Minute), Labels: labels},
		Status:     v1alpha1.AnalysisRunStatus{Phase: phase, MetricResults: metrics},
	}
}

func measurements(values ...string) []v1alpha1.Measurement {
	var out []v1alpha1.Measurement
	for _, v := range values {
		out = append(out, v1alpha1.Measurement{Phase: v1alpha1.AnalysisPhaseSuccessful, Value: v})
	}
	return out
}

func scenarios() map[string]Objects {
	out := map[string]Objects{}

	canary := fixture("web", v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{Steps: steps()}},
		v1alpha1.RolloutStatus{
			Phase: v1alpha1.RolloutPhasePaused, Message: "CanaryPauseStep",
			CurrentPodHash: "7c9d5f6b8", StableRS: "5d8f7c4b9", CurrentStepIndex: ptr.To(int32(1)),
			PauseConditions: []v1alpha1.PauseCondition{{Reason: v1alpha1.PauseReasonCanaryPauseStep, StartTime: ago(time.Minute)}},
			Replicas:        5, UpdatedReplicas: 1, ReadyReplicas: 5, AvailableReplicas: 5,
		},
		rev{2, "7c9d5f6b8", "ghcr.io/shop/web:2.0", 1, 1}, rev{1, "5d8f7c4b9", "ghcr.io/shop/web:1.0", 4, 4})
	out["canary"] = canary

	bg := fixture("cart", v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{ActiveService: "cart", PreviewService: "cart-preview"}},
		v1alpha1.RolloutStatus{
			Phase: v1alpha1.RolloutPhasePaused, Message: "BlueGreenPause",
			CurrentPodHash: "6f7b8c9d4", StableRS: "84c6d5f7b",
			BlueGreen:       v1alpha1.BlueGreenStatus{ActiveSelector: "84c6d5f7b", PreviewSelector: "6f7b8c9d4"},
			PauseConditions: []v1alpha1.PauseCondition{{Reason: v1alpha1.PauseReasonBlueGreenPause, StartTime: ago(time.Minute)}},
			Replicas:        8, UpdatedReplicas: 4, ReadyReplicas: 8, AvailableReplicas: 8,
		},
		rev{5, "6f7b8c9d4", "ghcr.io/shop/cart:5", 4, 4}, rev{4, "84c6d5f7b", "ghcr.io/shop/cart:4", 4, 4},
		rev{3, "59b7c8d6f", "ghcr.io/shop/cart:3", 0, 0})
	out["bluegreen"] = bg

	aborted := fixture("web", v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{Steps: steps()}},
		v1alpha1.RolloutStatus{
			Phase: v1alpha1.RolloutPhaseDegraded, Abort: true, AbortedAt: ptrTime(ago(2 * time.Minute)),
			Message:        "RolloutAborted: Rollout aborted update to revision 2: metric \"error-rate\" assessed Failed due to failed (1) > failureLimit (0)",
			CurrentPodHash: "7c9d5f6b8", StableRS: "5d8f7c4b9", CurrentStepIndex: ptr.To(int32(0)),
			Replicas: 4, UpdatedReplicas: 0, ReadyReplicas: 4, AvailableReplicas: 4,
		},
		rev{2, "7c9d5f6b8", "ghcr.io/shop/web:2.0", 0, 0}, rev{1, "5d8f7c4b9", "ghcr.io/shop/web:1.0", 4, 4})
	aborted.AnalysisRuns = []v1alpha1.AnalysisRun{run("web-7c9d5f6b8-2-2", "7c9d5f6b8", "2", v1alpha1.AnalysisPhaseFailed,
		v1alpha1.MetricResult{Name: "error-rate", Phase: v1alpha1.AnalysisPhaseFailed, Count: 2, Successful: 1, Failed: 1,
			Measurements: measurements("0.01", "0.09")})}
	out["aborted"] = aborted

	paused := fixture("web", v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{Steps: steps()}},
		v1alpha1.RolloutStatus{
			Phase: v1alpha1.RolloutPhasePaused, Message: "manually paused",
			CurrentPodHash: "7c9d5f6b8", StableRS: "5d8f7c4b9", CurrentStepIndex: ptr.To(int32(2)),
			Replicas: 6, UpdatedReplicas: 2, ReadyReplicas: 5, AvailableReplicas: 5,
		},
		rev{2, "7c9d5f6b8", "ghcr.io/shop/web:2.0", 2, 1}, rev{1, "5d8f7c4b9", "ghcr.io/shop/web:1.0", 4, 4})
	paused.Rollout.Spec.Paused = true
	out["paused"] = paused

	analysisSteps := append([]v1alpha1.CanaryStep{{SetWeight: ptr.To(int32(20))}, {Analysis: &v1alpha1.RolloutAnalysis{
		Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "error-rate"}}}}}, steps()[2:]...)
	analysis := fixture("api", v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{Steps: analysisSteps}},
		v1alpha1.RolloutStatus{
			Phase: v1alpha1.RolloutPhaseProgressing, Message: "waiting for analysis \"api-7c9d5f6b8-3-1\"",
			CurrentPodHash: "7c9d5f6b8", StableRS: "5d8f7c4b9", CurrentStepIndex: ptr.To(int32(1)),
			Canary:   v1alpha1.CanaryStatus{CurrentStepAnalysisRunStatus: &v1alpha1.RolloutAnalysisRunStatus{Name: "api-7c9d5f6b8-3-1", Status: v1alpha1.AnalysisPhaseRunning}},
			Replicas: 5, UpdatedReplicas: 1, ReadyReplicas: 5, AvailableReplicas: 5,
		},
		rev{3, "7c9d5f6b8", "ghcr.io/shop/api:3", 1, 1}, rev{2, "5d8f7c4b9", "ghcr.io/shop/api:2", 4, 4})
	analysis.AnalysisRuns = []v1alpha1.AnalysisRun{
		run("api-7c9d5f6b8-3-1", "7c9d5f6b8", "1", v1alpha1.AnalysisPhaseRunning,
			v1alpha1.MetricResult{Name: "error-rate", Phase: v1alpha1.AnalysisPhaseRunning, Count: 3, Successful: 3,
				Measurements: measurements("[0.012]", "[0.008]", "[0.011]", "[0.010]")},
			v1alpha1.MetricResult{Name: "p99-latency-ms", Phase: v1alpha1.AnalysisPhaseRunning, Count: 2, Successful: 1, Error: 1,
				Measurements: measurements("212")}),
	}
	out["analysis-running"] = analysis

	routed := fixture("storefront-frontend-with-a-long-name", v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
		Steps: steps(), CanaryService: "storefront-canary", StableService: "storefront-stable",
		TrafficRouting: &v1alpha1.RolloutTrafficRouting{Istio: &v1alpha1.IstioTrafficRouting{VirtualService: &v1alpha1.IstioVirtualService{Name: "storefront"}}},
	}},
		v1alpha1.RolloutStatus{
			Phase: v1alpha1.RolloutPhaseProgressing, Message: "more replicas need to be updated",
			CurrentPodHash: "7c9d5f6b8", StableRS: "5d8f7c4b9", CurrentStepIndex: ptr.To(int32(2)),
			Canary: v1alpha1.CanaryStatus{Weights: &v1alpha1.TrafficWeights{
				Canary:   v1alpha1.WeightDestination{Weight: 25, ServiceName: "storefront-canary", PodTemplateHash: "7c9d5f6b8"},
				Stable:   v1alpha1.WeightDestination{Weight: 75, ServiceName: "storefront-stable", PodTemplateHash: "5d8f7c4b9"},
				Verified: ptr.To(false),
			}},
			Replicas: 6, UpdatedReplicas: 2, ReadyReplicas: 5, AvailableReplicas: 5,
		},
		rev{2, "7c9d5f6b8", "ghcr.io/shop/storefront:2", 2, 1}, rev{1, "5d8f7c4b9", "ghcr.io/shop/storefront:1", 4, 4})
	routed.ReplicaSets[1].Annotations[v1alpha1.ScaleDownDeadlineAnnotationKey] = now.Add(25 * time.Second).Format(time.RFC3339)
	out["routed"] = routed
	return out
}

func ptrTime(t metav1.Time) *metav1.Time { return &t }

func TestRolloutGolden(t *testing.T) {
	for name, objs := range scenarios() {
		for _, style := range []struct {
			suffix string
			style  Style
		}{{"", Style{}}, {".tty", Style{Icons: true}}} {
			t.Run(name+style.suffix, func(t *testing.T) {
				var buf bytes.Buffer
				Rollout(&buf, objs, now, style.style)
				golden(t, "get-"+name+style.suffix+".golden", buf.String())
			})
		}
	}
}

func TestListGolden(t *testing.T) {
	var all []v1alpha1.Rollout
	for _, name := range []string{"canary", "bluegreen", "aborted", "analysis-running", "routed"} {
		all = append(all, *scenarios()[name].Rollout)
	}
	var buf bytes.Buffer
	List(&buf, all[:4], false, Style{})
	golden(t, "list.golden", buf.String())
	buf.Reset()
	// Names are never cut: this table is wider than Width.
	List(&buf, all, true, Style{Icons: true})
	goldenWide(t, "list-all-namespaces.tty.golden", buf.String())
}

// TestColorOnlyWhenAsked: without a terminal the output holds no escape codes and no icons.
func TestColorOnlyWhenAsked(t *testing.T) {
	objs := scenarios()["aborted"]
	var plainOut, colored bytes.Buffer
	Rollout(&plainOut, objs, now, Style{})
	Rollout(&colored, objs, now, Style{Icons: true, Color: true})
	if strings.Contains(plainOut.String(), "\x1b[") || strings.Contains(plainOut.String(), "✖") {
		t.Fatalf("plain output has colour or icons:\n%s", plainOut.String())
	}
	if !strings.Contains(colored.String(), ansiRed+"✖ Degraded"+ansiReset) {
		t.Fatalf("coloured output lacks the red Degraded status:\n%s", colored.String())
	}
	if got := stripANSI(colored.String()); got != func() string {
		var b bytes.Buffer
		Rollout(&b, objs, now, Style{Icons: true})
		return b.String()
	}() {
		t.Fatalf("colour changed more than the escape codes:\n%s", got)
	}
}

func golden(t *testing.T, file, got string) {
	t.Helper()
	checkWidth(t, got)
	goldenWide(t, file, got)
}

func checkWidth(t *testing.T, got string) {
	t.Helper()
	for i, line := range strings.Split(strings.TrimRight(got, "\n"), "\n") {
		if n := utf8.RuneCountInString(stripANSI(line)); n > Width {
			t.Errorf("line %d is %d columns wide: %q", i+1, n, line)
		}
	}
}

func goldenWide(t *testing.T, file, got string) {
	t.Helper()
	path := filepath.Join("testdata", file)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (run with -update to accept):\n--- got\n%s\n--- want\n%s", file, got, want)
	}
}
