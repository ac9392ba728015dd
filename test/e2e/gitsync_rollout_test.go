package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	sluicev1alpha1 "github.com/sluice-dev/sluice/api/sluice/v1alpha1"
)

func gitopsRolloutFiles(image string) map[string]string {
	service := func(name string) string {
		return "apiVersion: v1\nkind: Service\nmetadata:\n  name: " + name + "\nspec:\n  selector: {app: web}\n  ports:\n  - {port: 80, targetPort: 8080}\n"
	}
	return map[string]string{
		"app/services.yaml": service("web-stable") + "---\n" + service("web-canary"),
		"app/route.yaml": `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: web
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
// rollout controller sets: the walk never goes back, the GitSync is never OutOfSync over them.
func TestGitSyncManagedRolloutWalksItsCanary(t *testing.T) {
	startManager(t, setupRollout)
	startGitSyncController(t)
	ns := newNamespace(t)
	startFakeGateway(t, ns, "web")
	credentialsSecret(t, ns)
	srv, repo := gitRepo(t)
	rev1 := commit(t, repo, "app v1", gitopsRolloutFiles("app:1"))
	newGitSync(t, ns, "app", srv.URL("config"), "app", func(gs *sluicev1alpha1.GitSync) {
		gs.Spec.SyncPolicy.Automated.SelfHeal = true
		gs.Spec.Interval = "2s"
	})
	waitGitSync(t, ns, "app", 90*time.Second, "first sync, healthy", syncedAt(rev1))
	oldHash := waitPhase(t, ns, "web", v1alpha1.RolloutPhaseHealthy, time.Minute).Status.StableRS
	if h := serviceHash(t, ns, "web-stable"); h != oldHash {
		t.Fatalf("stable Service selects %q, want the stable ReplicaSet %q", h, oldHash)
	}

	rev2 := commit(t, repo, "app v2", gitopsRolloutFiles("app:2"))
	var walk []string
	var outOfSync []string
	eventually(t, 2*time.Minute, "the canary to walk to the new stable", func() (bool, error) {
		w := routeWeights(t, ns)
		if len(walk) == 0 || walk[len(walk)-1] != w {
			walk = append(walk, w)
		}
		gs := getGitSync(t, ns, "app")
		if s := gs.Status.Sync; s != nil && s.Revision == rev2 && s.Status == sluicev1alpha1.SyncStatusOutOfSync {
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
			gs.Status.LastAppliedRevision == rev2, nil
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
	final := getRollout(t, ns, "web")
	eventually(t, 30*time.Second, "the stable Service to select the new pods", func() (bool, error) {
		return serviceHash(t, ns, "web-stable") == final.Status.StableRS, nil
	})
	waitGitSync(t, ns, "app", 10*time.Second, "Synced at the new revision", syncedAt(rev2))
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
