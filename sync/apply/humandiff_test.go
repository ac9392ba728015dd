package apply

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	rov1 "github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/api/sluice/v1alpha1"
	"github.com/sluice-dev/sluice/sync/inventory"
)

func TestDiffShowsTheFieldsGitSets(t *testing.T) {
	desired := obj(t, `{apiVersion: apps/v1, kind: Deployment, metadata: {name: web, namespace: shop, labels: {app: web},
  annotations: {sluice.dev/desired-digest: abc}},
  spec: {replicas: 2, template: {spec: {containers: [{name: web, image: "web:2"}]}}}}`)
	live := obj(t, `{apiVersion: apps/v1, kind: Deployment, metadata: {name: web, namespace: shop, uid: u1, resourceVersion: "7",
  labels: {app: web, extra: x}, annotations: {sluice.dev/desired-digest: old, deployment.kubernetes.io/revision: "3"}},
  spec: {replicas: 5, strategy: {type: RollingUpdate}, template: {spec: {restartPolicy: Always,
    containers: [{name: web, image: "web:1", imagePullPolicy: IfNotPresent}]}}}, status: {replicas: 5}}`)
	got, err := (&Comparer{}).Diff(live, desired)
	if err != nil {
		t.Fatal(err)
	}
	want := `--- live/Deployment shop/web
+++ git/Deployment shop/web
@@ -6,9 +6,9 @@
   name: web
   namespace: shop
 spec:
-  replicas: 5
+  replicas: 2
   template:
     spec:
       containers:
-      - image: web:1
+      - image: web:2
         name: web
`
	if got != want {
		t.Errorf("diff:\n%s\nwant:\n%s", got, want)
	}
	for _, noise := range []string{"uid", "resourceVersion", "status", "restartPolicy", "imagePullPolicy", "extra", "desired-digest", "revision"} {
		if strings.Contains(got, noise) {
			t.Errorf("diff shows %q, which Git does not set", noise)
		}
	}
	if d, _ := (&Comparer{}).Diff(desired, desired); d != "" {
		t.Errorf("an object equal to Git has a diff:\n%s", d)
	}
}

func TestDiffOfAMissingObjectAndOfRolloutFields(t *testing.T) {
	desired := obj(t, `{apiVersion: v1, kind: ConfigMap, metadata: {name: settings, namespace: shop}, data: {key: value}}`)
	got, _ := (&Comparer{}).Diff(nil, desired)
	if !strings.Contains(got, "@@ -0,0 +1,") || !strings.Contains(got, "+  key: value") || strings.Contains(got, "\n-") {
		t.Errorf("a missing object is not added whole:\n%s", got)
	}
	// The rollout controller's weights are not shown as a change.
	cmp := &Comparer{Others: NewOthers([]*rov1.Rollout{rollout(t, canaryRollout)}, nil)}
	diffs, err := cmp.Diffs(map[inventory.ID]*unstructured.Unstructured{inventory.Of(obj(t, routeDesired)): obj(t, routeLive("/"))},
		[]*unstructured.Unstructured{obj(t, routeDesired), desired})
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) != 1 || diffs[0].ID.Kind != "ConfigMap" {
		t.Errorf("diffs %+v, want only the missing ConfigMap (route weights are the rollout's)", diffs)
	}
}

func TestUnifiedDiffHunks(t *testing.T) {
	a := strings.Split("1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20", " ")
	b := append([]string{}, a...)
	b[1], b[17] = "two", "eighteen"
	got := unifiedDiff("a", "b", a, b)
	if n := strings.Count(got, "@@ -"); n != 2 {
		t.Errorf("two distant changes give %d hunks:\n%s", n, got)
	}
	if !strings.Contains(got, "@@ -1,5 +1,5 @@\n 1\n-2\n+two\n 3\n 4\n 5\n") {
		t.Errorf("first hunk wrong:\n%s", got)
	}
	if !strings.Contains(got, "@@ -15,6 +15,6 @@\n 15\n 16\n 17\n-18\n+eighteen\n 19\n 20\n") {
		t.Errorf("second hunk wrong:\n%s", got)
	}
	c := append([]string{}, a...)
	c[1], c[6] = "two", "seven" // close changes share a hunk
	if n := strings.Count(unifiedDiff("a", "c", a, c), "@@ -"); n != 1 {
		t.Errorf("two close changes give %d hunks", n)
	}
}

// No Secret value reaches a diff: equal values print as the same mask, differing ones as masks of
// different lengths, so a reader still sees which keys changed.
func TestDiffMasksSecretValues(t *testing.T) {
	secret := func(body string) *unstructured.Unstructured {
		return obj(t, `{apiVersion: v1, kind: Secret, metadata: {name: creds, namespace: shop}, type: Opaque, `+body+`}`)
	}
	// hunter2, admin, other
	values := []string{"hunter2", "aHVudGVyMg==", "admin", "YWRtaW4=", "other", "b3RoZXI="}
	for _, tc := range []struct {
		name          string
		live, desired *unstructured.Unstructured
		lines         []string // lines the diff holds
	}{
		{"a changed value and an equal one", secret(`data: {password: b3RoZXI=, user: YWRtaW4=}`), secret(`data: {password: aHVudGVyMg==, user: YWRtaW4=}`),
			[]string{"-  password: ++++++++++++", "+  password: ++++++++", "   user: ++++++++"}},
		{"stringData against a changed stored value", secret(`data: {password: b3RoZXI=, user: YWRtaW4=}`), secret(`stringData: {password: hunter2}, data: {user: YWRtaW4=}`),
			[]string{"-  password: ++++++++++++", "+  password: ++++++++", "   user: ++++++++"}},
		{"a missing Secret", nil, secret(`stringData: {password: hunter2}, data: {user: YWRtaW4=}`),
			[]string{"+  password: ++++++++", "+  user: ++++++++"}},
	} {
		got, err := (&Comparer{}).Diff(tc.live, tc.desired)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range values {
			if strings.Contains(got, v) {
				t.Errorf("%s: the diff shows the secret value %q:\n%s", tc.name, v, got)
			}
		}
		for _, l := range tc.lines {
			if !strings.Contains(got, "\n"+l+"\n") {
				t.Errorf("%s: the diff lacks %q:\n%s", tc.name, l, got)
			}
		}
		if v, _, _ := unstructured.NestedString(tc.desired.Object, "data", "user"); v != "YWRtaW4=" {
			t.Errorf("%s: Diff changed the desired Secret: data.user = %q", tc.name, v)
		}
	}
	// A Secret of another group is no core Secret: its data is shown.
	other := obj(t, `{apiVersion: example.com/v1, kind: Secret, metadata: {name: creds, namespace: shop}, data: {password: plain}}`)
	if got, _ := (&Comparer{}).Diff(nil, other); !strings.Contains(got, "password: plain") {
		t.Errorf("a custom kind named Secret was masked:\n%s", got)
	}
}

// Diff reads Drift's comparison: it is "" exactly when Drift finds the objects in sync.
func TestDiffIsEmptyExactlyWhenInSync(t *testing.T) {
	deploy := func(meta, spec string) string {
		return `{apiVersion: apps/v1, kind: Deployment, metadata: {name: web, namespace: shop, annotations: {sluice.dev/desired-digest: d1}` + meta + `}, spec: ` + spec + `}`
	}
	container := func(cpu string) string {
		return `{replicas: 2, template: {spec: {containers: [{name: web, image: "web:1", resources: {limits: {cpu: ` + cpu + `}}}]}}}`
	}
	withRollout := &Comparer{Others: NewOthers([]*rov1.Rollout{rollout(t, canaryRollout)}, nil)}
	ignoreReplicas := &Comparer{Ignore: []v1alpha1.ResourceIgnoreDifferences{{Group: "apps", Kind: "Deployment", JSONPointers: []string{"/spec/replicas"}}}}
	for _, tc := range []struct {
		name          string
		cmp           *Comparer
		live, desired string
		drift         bool
	}{
		{"equal", &Comparer{}, deploy("", container(`"1"`)), deploy("", container(`"1"`)), false},
		{"a quantity by amount", &Comparer{}, deploy("", container(`1000m`)), deploy("", container(`"1"`)), false},
		{"a quantity written as a number", &Comparer{}, deploy("", container(`"1"`)), deploy("", container(`1`)), false},
		{"a changed quantity", &Comparer{}, deploy("", container(`1500m`)), deploy("", container(`"1"`)), true},
		{"defaults and live-only fields", &Comparer{}, deploy(`, uid: u1, labels: {extra: x}`, `{replicas: 2, strategy: {type: RollingUpdate}, template: {spec: {restartPolicy: Always,
  containers: [{name: web, image: "web:1", imagePullPolicy: IfNotPresent, resources: {limits: {cpu: "1"}}}]}}}`), deploy("", container(`"1"`)), false},
		{"a null in Git", &Comparer{}, deploy("", `{replicas: 2}`), deploy("", `{replicas: 2, paused: null}`), false},
		{"an empty map in Git", &Comparer{}, deploy("", `{replicas: 2}`), deploy("", `{replicas: 2, selector: {}}`), false},
		{"metadata Drift does not compare", &Comparer{}, deploy("", `{replicas: 2}`), deploy(`, finalizers: [example.com/keep]`, `{replicas: 2}`), false},
		{"a changed label", &Comparer{}, deploy(`, labels: {app: api}`, `{replicas: 2}`), deploy(`, labels: {app: web}`, `{replicas: 2}`), true},
		{"a changed replica count", &Comparer{}, deploy("", `{replicas: 5}`), deploy("", `{replicas: 2}`), true},
		{"an ignored replica count", ignoreReplicas, deploy("", `{replicas: 5}`), deploy("", `{replicas: 2}`), false},
		{"an extra container", &Comparer{}, deploy("", `{template: {spec: {containers: [{name: web, image: "web:1"}, {name: side, image: s}]}}}`),
			deploy("", `{template: {spec: {containers: [{name: web, image: "web:1"}]}}}`), true},
		{"only the digest differs", &Comparer{}, strings.Replace(deploy("", `{replicas: 2}`), "d1", "d0", 1), deploy("", `{replicas: 2}`), true},
		{"Secret stringData stored as data", &Comparer{},
			`{apiVersion: v1, kind: Secret, metadata: {name: s, namespace: shop}, data: {password: aHVudGVyMg==}, type: Opaque}`,
			`{apiVersion: v1, kind: Secret, metadata: {name: s, namespace: shop}, stringData: {password: hunter2}}`, false},
		{"Secret stringData against another value", &Comparer{},
			`{apiVersion: v1, kind: Secret, metadata: {name: s, namespace: shop}, data: {password: b3RoZXI=}, type: Opaque}`,
			`{apiVersion: v1, kind: Secret, metadata: {name: s, namespace: shop}, stringData: {password: hunter2}}`, true},
		{"route weights the rollout set", withRollout, routeLive("/"), routeDesired, false},
		{"a route rule changed by hand", withRollout, routeLive("/admin"), routeDesired, true},
		{"a Service selector hash", &Comparer{},
			`{apiVersion: v1, kind: Service, metadata: {name: web, namespace: shop}, spec: {selector: {app: web, rollouts-pod-template-hash: abc}}}`,
			`{apiVersion: v1, kind: Service, metadata: {name: web, namespace: shop}, spec: {selector: {app: web, rollouts-pod-template-hash: old}}}`, false},
	} {
		live, desired := obj(t, tc.live), obj(t, tc.desired)
		drift, fields := tc.cmp.Drift(live, desired)
		diff, err := tc.cmp.Diff(live, desired)
		if err != nil {
			t.Fatal(err)
		}
		if drift != tc.drift {
			t.Errorf("%s: drift = %v (%v), want %v", tc.name, drift, fields, tc.drift)
		}
		if drift != (diff != "") {
			t.Errorf("%s: drift = %v (%v) but the diff is:\n%s", tc.name, drift, fields, diff)
		}
	}
}

// When the fields Git sets print the same but Drift found a difference, the diff names it.
func TestDiffNamesWhatItsYAMLDoesNotShow(t *testing.T) {
	desired := obj(t, `{apiVersion: v1, kind: ConfigMap, metadata: {name: settings, namespace: shop, annotations: {sluice.dev/desired-digest: new}}, data: {key: value}}`)
	live := obj(t, `{apiVersion: v1, kind: ConfigMap, metadata: {name: settings, namespace: shop, annotations: {sluice.dev/desired-digest: old}}, data: {key: value, gone: x}}`)
	got, err := (&Comparer{}).Diff(live, desired)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got, "--- live/ConfigMap shop/settings\n+++ git/ConfigMap shop/settings\n") ||
		!strings.Contains(got, "metadata.annotations.sluice.dev/desired-digest") {
		t.Errorf("a digest-only difference is not named:\n%s", got)
	}
}

// diffLines matches the common head and tail before the quadratic table, so a large object with a
// small change costs little memory, and its edit script still rebuilds both texts.
func TestDiffLinesOfALargeObject(t *testing.T) {
	a := make([]string, 3000)
	for i := range a {
		a[i] = fmt.Sprintf("  line%d: value", i)
	}
	b := slices.Clone(a)
	b[1500] = "  line1500: changed"
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	got := unifiedDiff("a", "b", a, b)
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 4<<20 {
		t.Errorf("a one-line change in 3,000 lines allocated %d MiB", n>>20)
	}
	want := "--- a\n+++ b\n@@ -1498,7 +1498,7 @@\n" +
		"   line1497: value\n   line1498: value\n   line1499: value\n-  line1500: value\n+  line1500: changed\n" +
		"   line1501: value\n   line1502: value\n   line1503: value\n"
	if got != want {
		t.Errorf("diff:\n%s\nwant:\n%s", got, want)
	}
}

func TestDiffLinesRebuildsBothTexts(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	text := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = string(rune('a' + rnd.IntN(4)))
		}
		return out
	}
	check := func(name string, a, b []string) {
		t.Helper()
		var gotA, gotB []string
		for _, op := range diffLines(a, b) {
			if op.kind != '+' {
				gotA = append(gotA, op.text)
			}
			if op.kind != '-' {
				gotB = append(gotB, op.text)
			}
		}
		if !slices.Equal(gotA, a) || !slices.Equal(gotB, b) {
			t.Errorf("%s: the edit script does not rebuild the texts", name)
		}
	}
	for i := 0; i < 200; i++ {
		check(fmt.Sprintf("random %d", i), text(rnd.IntN(12)), text(rnd.IntN(12)))
	}
	// A middle part past the table's bound is written as removed then added.
	big := func(prefix string) []string {
		out := make([]string, 2100)
		for i := range out {
			out[i] = fmt.Sprintf("%s%d", prefix, i)
		}
		return out
	}
	a, b := append([]string{"head"}, big("a")...), append([]string{"head"}, big("b")...)
	check("past the bound", a, b)
	if got := unifiedDiff("a", "b", a, b); !strings.HasPrefix(got, "--- a\n+++ b\n@@ -1,2101 +1,2101 @@\n head\n-a0\n") {
		t.Errorf("past the bound: %.80q", got)
	}
}
