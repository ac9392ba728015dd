package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	sluicev1alpha1 "github.com/sluice-dev/sluice/api/sluice/v1alpha1"
)

// gitopsRolloutFiles is the config repo of a Rollout with its Services and HTTPRoute; owner is an
// annotation on the Services and the route, so a commit can change them without touching the
// fields the rollout controller owns.
func gitopsRolloutFiles(image, owner string) map[string]string {
	service := func(name string) string {
		return "apiVersion: v1\nkind: Service\nmetadata:\n  name: " + name + "\n  annotations: {team: " + owner + "}\nspec:\n  selector: {app: web}\n  ports:\n  - {port: 80, targetPort: 8080}\n"
	}
	return map[string]string{
		"app/services.yaml": service("web-stable") + "---\n" + service("web-canary"),
		"app/route.yaml": `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: web
  annotations: {team: ` + owner + `}
spec:
  parentRefs: [{name: gateway}]
  rules:
  - backendRefs:
    - {name: web-stable, port: 80, weight: 100}
    - {name: web-canary, port: 80, weight: 0}
`,
		"app/rollout.yaml": `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: web
spec:
  replicas: 5
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: ` + image + `
  strategy:
    canary:
      stableService: web-stable
      canaryService: web-canary
      trafficRouting:
        plugins:
          argoproj-labs/gatewayAPI: {httpRoute: web}
      steps:
      - setWeight: 20
      - pause: {duration: 2s}
      - setWeight: 60
      - pause: {duration: 2s}
`,
	}
}

// TestGitSyncManagedRolloutWalksItsCanary: a Rollout with Gateway API routing, its Services and its
// HTTPRoute all come from Git through a GitSync with selfHeal (and a 2s interval, so the interval
// path is exercised too). An image bump committed to Git walks the canary 100/0 → 80/20 → 40/60 →
// 100/0 on the new stable, and the sync never resets the weights or the Service selectors the
// rollout controller sets: the walk never goes back, the GitSync is never OutOfSync over them, and
// a commit that changes the Services and the route mid-canary (applied while the rollout holds
// 80/20) leaves every version of the Services with its hash selector key.
func TestGitSyncManagedRolloutWalksItsCanary(t *testing.T) {
	startManager(t, setupRollout)
	startGitSyncController(t)
	ns := newNamespace(t)
	startFakeGateway(t, ns, "web")
	credentialsSecret(t, ns)
	srv, repo := gitRepo(t)
	rev1 := commit(t, repo, "app v1", gitopsRolloutFiles("app:1", "shop"))
	newGitSync(t, ns, "app", srv.URL("config"), "app", func(gs *sluicev1alpha1.GitSync) {
		gs.Spec.SyncPolicy.Automated.SelfHeal = true
		gs.Spec.Interval = "2s"
	})
	waitGitSync(t, ns, "app", 90*time.Second, "first sync, healthy", syncedAt(rev1))
	oldHash := waitPhase(t, ns, "web", v1alpha1.RolloutPhaseHealthy, time.Minute).Status.StableRS
	if h := serviceHash(t, ns, "web-stable"); h != oldHash {
		t.Fatalf("stable Service selects %q, want the stable ReplicaSet %q", h, oldHash)
	}

	// Every version of the two Services from here on selects a ReplicaSet by its hash: a sync
	// that replaced the (atomic) selector with Git's would show as a version without it, even if
	// the rollout controller put the key back a moment later.
	lostHash := watchServiceSelectors(t, ns, "web-stable", "web-canary")
	commit(t, repo, "app v2", gitopsRolloutFiles("app:2", "shop"))
	var walk []string
	var outOfSync []string
	// Mid-canary, a commit changes the Services and the route (an annotation; Git's selectors
	// have no hash key and its weights are 100/0) and a sync is requested: they are applied while
	// the rollout controller holds 80/20 and the hash selectors, and must keep both.
	rev3, rev3Checked := "", false
	eventually(t, 2*time.Minute, "the canary to walk to the new stable", func() (bool, error) {
		w := routeWeights(t, ns)
		if len(walk) == 0 || walk[len(walk)-1] != w {
			walk = append(walk, w)
		}
		if rev3 == "" && w == "80/20" {
			rev3 = commit(t, repo, "services and route: new owner", gitopsRolloutFiles("app:2", "payments"))
			requestSync(t, ns, "app")
		}
		gs := getGitSync(t, ns, "app")
		if rev3 != "" && !rev3Checked && gs.Status.LastAppliedRevision == rev3 {
			rev3Checked = true
			ro := getRollout(t, ns, "web")
			if ro.Status.Phase == v1alpha1.RolloutPhaseHealthy {
				t.Errorf("the commit of the Services and the route was applied only after the canary ended; it must land mid-canary to test anything")
			}
			if h := serviceHash(t, ns, "web-canary"); h == "" || h == oldHash {
				t.Errorf("after a sync of the Services mid-canary, the canary Service selects %q, want the canary ReplicaSet's hash", h)
			}
			if h := serviceHash(t, ns, "web-stable"); h != oldHash {
				t.Errorf("after a sync of the Services mid-canary, the stable Service selects %q, want the stable ReplicaSet %q", h, oldHash)
			}
		}
		if s := gs.Status.Sync; s != nil && s.Revision != rev1 && s.Status == sluicev1alpha1.SyncStatusOutOfSync {
			outOfSync = append(outOfSync, strings.Join(s.OutOfSync, "; "))
		}
		ro := getRollout(t, ns, "web")
		if ro.Status.Canary.Weights != nil && ro.Status.Phase == v1alpha1.RolloutPhasePaused {
			// While the canary runs, the canary Service selects the canary ReplicaSet only.
			if h := serviceHash(t, ns, "web-canary"); h != "" && h == oldHash {
				t.Errorf("the canary Service selects the old stable %q mid-canary", h)
			}
		}
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.StableRS != oldHash && w == "100/0" &&
			rev3Checked, nil
	})
	got := strings.Join(walk, " ")
	if len(walk) < 4 {
		t.Fatalf("weights walked only %q", got)
	}
	mid := walk[1 : len(walk)-1]
	if walk[0] != "100/0" || !strings.Contains(got, "80/20 40/60") || slices.Contains(mid, "100/0") {
		t.Errorf("weights walked %q, want 100/0, 80/20, 40/60 and back to 100/0 only at the end (a reset by the sync shows 100/0 mid-walk)", got)
	}
	for _, o := range outOfSync {
		if strings.Contains(o, "HTTPRoute") || strings.Contains(o, "Service") || strings.Contains(o, "Rollout") {
			t.Errorf("the GitSync called the rollout controller's fields drift (%d times), first: %s", len(outOfSync), o)
			break
		}
	}
	if lost := lostHash(); len(lost) > 0 {
		t.Errorf("a Service lost its pod-template-hash selector key during the canary: %v", lost)
	}
	final := getRollout(t, ns, "web")
	eventually(t, 30*time.Second, "the stable Service to select the new pods", func() (bool, error) {
		return serviceHash(t, ns, "web-stable") == final.Status.StableRS, nil
	})
	waitGitSync(t, ns, "app", 10*time.Second, "Synced at the new revision", syncedAt(rev3))
	// For four more interval passes the route and the selectors stay the rollout's, and the sync
	// starts no operation (it writes nothing).
	hist := len(getGitSync(t, ns, "app").Status.History)
	for end := time.Now().Add(8 * time.Second); time.Now().Before(end); {
		if w, h := routeWeights(t, ns), serviceHash(t, ns, "web-stable"); w != "100/0" || h != final.Status.StableRS {
			t.Fatalf("after the rollout, the route is %s and the stable Service selects %q", w, h)
		}
		if n := len(getGitSync(t, ns, "app").Status.History); n != hist {
			t.Fatalf("the sync ran %d more operations on an unchanged revision", n-hist)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// watchServiceSelectors watches the named Services until the test ends and returns a function
// listing the versions seen whose selector has no pod-template-hash key.
func watchServiceSelectors(t *testing.T, ns string, names ...string) func() []string {
	t.Helper()
	cs, err := kubernetes.NewForConfig(env.cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w, err := cs.CoreV1().Services(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		cancel()
		t.Fatalf("watch Services: %v", err)
	}
	var mu sync.Mutex
	var lost []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			svc, ok := ev.Object.(*corev1.Service)
			if !ok || !slices.Contains(names, svc.Name) || ev.Type == watch.Deleted {
				continue
			}
			if _, has := svc.Spec.Selector[v1alpha1.PodTemplateHashLabelKey]; !has {
				mu.Lock()
				lost = append(lost, fmt.Sprintf("%s at resourceVersion %s: %v", svc.Name, svc.ResourceVersion, svc.Spec.Selector))
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { w.Stop(); cancel(); <-done })
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(lost)
	}
}
