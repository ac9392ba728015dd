package actions

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

func rollout() *v1alpha1.Rollout {
	return &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", ResourceVersion: "42"},
		Spec: v1alpha1.RolloutSpec{
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{
					InitContainers: []corev1.Container{{Name: "migrate", Image: "web:1"}},
					Containers:     []corev1.Container{{Name: "app", Image: "web:1"}, {Name: "proxy", Image: "envoy:1"}},
				},
			},
			Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{Steps: []v1alpha1.CanaryStep{
				{SetWeight: ptr.To(int32(25))}, {Pause: &v1alpha1.RolloutPause{}},
			}}},
		},
		Status: v1alpha1.RolloutStatus{Phase: v1alpha1.RolloutPhaseHealthy, StableRS: "aaa", CurrentPodHash: "aaa"},
	}
}

type sent struct {
	target Target
	typ    PatchType
	body   string
}

func bodies(r Result) []sent {
	var out []sent
	for _, p := range r.Patches {
		out = append(out, sent{p.Target, p.Type, string(p.Body)})
	}
	return out
}

func equal(t *testing.T, got Result, want ...sent) {
	t.Helper()
	g := bodies(got)
	if len(g) != len(want) {
		t.Fatalf("patches: got %+v, want %+v", g, want)
	}
	for i := range want {
		if g[i].target != want[i].target || g[i].typ != want[i].typ || !jsonEqual(g[i].body, want[i].body) {
			t.Fatalf("patch %d: got %+v, want %+v", i, g[i], want[i])
		}
	}
}

func jsonEqual(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return string(ja) == string(jb)
}

func TestPromote(t *testing.T) {
	t.Run("at a pause step the pause conditions are cleared", func(t *testing.T) {
		ro := rollout()
		ro.Status.Phase, ro.Status.CurrentPodHash, ro.Status.CurrentStepIndex = v1alpha1.RolloutPhasePaused, "bbb", ptr.To(int32(1))
		ro.Status.PauseConditions = []v1alpha1.PauseCondition{{Reason: v1alpha1.PauseReasonCanaryPauseStep}}
		res := Promote(ro)
		equal(t, res, sent{Status, MergePatch, `{"status":{"pauseConditions":null}}`})
		if res.Message != "rollout 'web' promoted" {
			t.Fatalf("message %q", res.Message)
		}
	})
	t.Run("a user pause is cleared in the spec as well", func(t *testing.T) {
		ro := rollout()
		ro.Spec.Paused = true
		ro.Status.PauseConditions = []v1alpha1.PauseCondition{{Reason: v1alpha1.PauseReasonCanaryPauseStep}}
		equal(t, Promote(ro),
			sent{Status, MergePatch, `{"status":{"pauseConditions":null}}`},
			sent{Spec, MergePatch, `{"spec":{"paused":false}}`})
	})
	t.Run("a rollout that is not paused is left alone", func(t *testing.T) {
		ro := rollout()
		ro.Status.Phase = v1alpha1.RolloutPhaseProgressing
		res := Promote(ro)
		equal(t, res)
		if !strings.Contains(res.Message, "is not paused (Progressing)") || !strings.Contains(res.Message, "--full") {
			t.Fatalf("message %q", res.Message)
		}
	})
}

func TestPromoteFull(t *testing.T) {
	ro := rollout()
	ro.Status.CurrentPodHash = "bbb"
	equal(t, PromoteFull(ro), sent{Status, MergePatch, `{"status":{"promoteFull":true}}`})
	ro.Spec.Paused = true
	equal(t, PromoteFull(ro), sent{Status, MergePatch, `{"status":{"promoteFull":true}}`}, sent{Spec, MergePatch, `{"spec":{"paused":false}}`})
	stable := rollout()
	if res := PromoteFull(stable); len(res.Patches) != 0 || !strings.Contains(res.Message, "already fully promoted") {
		t.Fatalf("a stable rollout: %+v", res)
	}
}

func TestSimpleActions(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 30, 0, 0, time.FixedZone("CET", 3600))
	for _, c := range []struct {
		res  Result
		want sent
		msg  string
	}{
		{Abort("web"), sent{Status, MergePatch, `{"status":{"abort":true}}`}, "rollout 'web' aborted"},
		{Retry("web"), sent{Status, MergePatch, `{"status":{"abort":false}}`}, "rollout 'web' retried"},
		{Pause("web"), sent{Spec, MergePatch, `{"spec":{"paused":true}}`}, "rollout 'web' paused"},
		{Restart("web", now), sent{Spec, MergePatch, `{"spec":{"restartAt":"2026-03-01T11:30:00Z"}}`}, "rollout 'web' restarts the pods created before 2026-03-01T11:30:00Z"},
	} {
		equal(t, c.res, c.want)
		if c.res.Message != c.msg {
			t.Errorf("message %q, want %q", c.res.Message, c.msg)
		}
	}
}

func TestResume(t *testing.T) {
	ro := rollout()
	ro.Spec.Paused = true
	equal(t, Resume(ro), sent{Spec, MergePatch, `{"spec":{"paused":false}}`})
	ro.Spec.Paused = false
	ro.Status.PauseConditions = []v1alpha1.PauseCondition{{Reason: v1alpha1.PauseReasonCanaryPauseStep}}
	res := Resume(ro)
	equal(t, res)
	if !strings.Contains(res.Message, "CanaryPauseStep: use promote") {
		t.Fatalf("message %q", res.Message)
	}
}

func TestSetImage(t *testing.T) {
	res, err := SetImage(rollout(), "app", "web:2")
	if err != nil {
		t.Fatal(err)
	}
	equal(t, res, sent{Spec, MergePatch, `{"metadata":{"resourceVersion":"42"},"spec":{"template":{"spec":{"containers":[
		{"name":"app","image":"web:2","resources":{}},{"name":"proxy","image":"envoy:1","resources":{}}]}}}}`})

	res, err = SetImage(rollout(), "*", "web:3")
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Spec struct {
			Template struct {
				Spec corev1.PodSpec `json:"spec"`
			} `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(res.Patches[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	pod := body.Spec.Template.Spec
	if pod.InitContainers[0].Image != "web:3" || pod.Containers[0].Image != "web:3" || pod.Containers[1].Image != "web:3" {
		t.Fatalf("*= must set every container: %+v", pod)
	}

	if _, err := SetImage(rollout(), "db", "pg:16"); err == nil || !strings.Contains(err.Error(), `no container named "db" (it has app, proxy)`) {
		t.Fatalf("unknown container: %v", err)
	}
	res, err = SetImage(rollout(), "app", "web:1")
	if err != nil || len(res.Patches) != 0 {
		t.Fatalf("same image: %+v %v", res, err)
	}
	if _, _, err := ParseImageArg("app"); err == nil {
		t.Fatal("ParseImageArg accepted an argument without =")
	}
	if c, i, err := ParseImageArg("*=web:2"); err != nil || c != "*" || i != "web:2" {
		t.Fatalf("ParseImageArg(*=web:2) = %q %q %v", c, i, err)
	}
}

func replicaSet(rev, hash, image string) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web-" + hash, Annotations: map[string]string{v1alpha1.RevisionAnnotationKey: rev}},
		Spec: appsv1.ReplicaSetSpec{Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", v1alpha1.PodTemplateHashLabelKey: hash}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
		}},
	}
}

func TestUndo(t *testing.T) {
	ro := rollout()
	ro.Spec.Template.Spec = corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "web:3"}}}
	rss := []*appsv1.ReplicaSet{replicaSet("1", "aaa", "web:1"), replicaSet("3", "ccc", "web:3"), replicaSet("2", "bbb", "web:2")}

	res, err := Undo(ro, rss, 0)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, res, sent{Spec, JSONPatch, `[{"op":"replace","path":"/spec/template","value":
		{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"app","image":"web:2","resources":{}}]}}}]`})
	if res.Message != "rollout 'web' rolled back to the template of revision 2" {
		t.Fatalf("message %q", res.Message)
	}
	if res, err = Undo(ro, rss, 1); err != nil || !strings.Contains(string(res.Patches[0].Body), `"image":"web:1"`) {
		t.Fatalf("--to-revision 1: %+v %v", res, err)
	}
	if res, err = Undo(ro, rss, 3); err != nil || len(res.Patches) != 0 {
		t.Fatalf("the current revision: %+v %v", res, err)
	}
	if _, err = Undo(ro, rss, 7); err == nil || !strings.Contains(err.Error(), "no revision 7 in its history (kept: 3 2 1)") {
		t.Fatalf("a missing revision: %v", err)
	}
	if _, err = Undo(ro, rss[:1], 0); err == nil || !strings.Contains(err.Error(), "no previous revision") {
		t.Fatalf("one revision only: %v", err)
	}
}
