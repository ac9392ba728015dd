package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sluicev1alpha1 "github.com/sluice-dev/sluice/api/sluice/v1alpha1"
)

// childGitSyncYAML is a GitSync manifest for clusters/local: it syncs path of the repository at
// url (the test's Git server) into its own namespace, with the test's credentials Secret. Its
// short interval lets it see the commits the test pushes without a sync request.
func childGitSyncYAML(name, url, path string) string {
	return `apiVersion: sluice.dev/v1alpha1
kind: GitSync
metadata:
  name: ` + name + `
spec:
  source:
    repoURL: ` + url + `
    path: ` + path + `
    secretRef:
      name: git-creds
  syncPolicy:
    automated:
      prune: true
  interval: 2s
`
}

// appDeploymentYAML is a 2-replica Deployment; podSpec and spec are extra lines for its pod spec
// and its spec (indented already).
func appDeploymentYAML(name, spec, podSpec string) string {
	return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ` + name + `
spec:
  replicas: 2
` + spec + `  selector:
    matchLabels: {app: ` + name + `}
  template:
    metadata:
      labels: {app: ` + name + `}
    spec:
` + podSpec + `      containers:
      - name: web
        image: web:1.0
`
}

// appOfAppsFiles are the files of the first commit of an app-of-apps repository: clusters/local holds the
// GitSyncs child-a and child-b, which sync apps/a and apps/b (a ConfigMap and a Deployment each).
func appOfAppsFiles(url string) map[string]string {
	return map[string]string{
		"clusters/local/a.yaml": childGitSyncYAML("child-a", url, "apps/a"),
		"clusters/local/b.yaml": childGitSyncYAML("child-b", url, "apps/b"),
		"apps/a/config.yaml":    configMapYAML("a-settings", ""),
		"apps/a/deploy.yaml":    appDeploymentYAML("a-web", "", ""),
		"apps/b/config.yaml":    configMapYAML("b-settings", ""),
		"apps/b/deploy.yaml":    appDeploymentYAML("b-web", "", ""),
	}
}

// newRootGitSync creates the root GitSync of clusters/local. Its interval is short because a
// child's status writes do not wake the root (the live watches skip status-only updates): a
// healthy root looks at its children's health again only on its interval.
func newRootGitSync(t *testing.T, ns, url string) {
	t.Helper()
	newGitSync(t, ns, "root", url, "clusters/local", func(gs *sluicev1alpha1.GitSync) { gs.Spec.Interval = "2s" })
}

// awaitRootHealthyAfterChildren waits until the root is Healthy and checks that it was not
// before both children were Ready: the root is seen Progressing while a child is missing or not
// Ready, and when it is first seen Healthy both children are Ready, synced at revision.
func awaitRootHealthyAfterChildren(t *testing.T, ns, revision string) {
	t.Helper()
	sawRootWaiting := false
	deadline := time.Now().Add(120 * time.Second)
	for {
		root := &sluicev1alpha1.GitSync{}
		if err := env.client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "root"}, root); err != nil {
			t.Fatalf("get the root GitSync: %v", err)
		}
		if h := root.Status.Health; h != nil && h.Status == sluicev1alpha1.HealthHealthy && root.Status.LastAppliedRevision == revision {
			for _, name := range []string{"child-a", "child-b"} {
				if child := getGitSync(t, ns, name); !syncedAt(revision)(child) {
					t.Errorf("the root is Healthy while %s is not Ready and synced at %s: %+v", name, short(revision), child.Status.Conditions)
				}
			}
			break
		}
		if h := root.Status.Health; h != nil && h.Status == sluicev1alpha1.HealthProgressing && !childrenReady(ns, revision) {
			sawRootWaiting = true
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for the root GitSync to be Healthy at %s\nstatus: %+v", short(revision), root.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !sawRootWaiting {
		t.Errorf("the root was never seen Progressing while its children were not Ready")
	}
}

func childrenReady(ns, revision string) bool {
	for _, name := range []string{"child-a", "child-b"} {
		gs := &sluicev1alpha1.GitSync{}
		if err := env.client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, gs); err != nil || !syncedAt(revision)(gs) {
			return false
		}
	}
	return true
}

func short(rev string) string {
	if len(rev) > 7 {
		return rev[:7]
	}
	return rev
}

// TestGitSyncAppOfApps: a root GitSync whose path holds two GitSync manifests creates both; each
// child syncs its own path; the root is Healthy only once both children are; a child whose
// Deployment exceeds its progress deadline makes the root Degraded; and removing a child from
// clusters/local makes the root (automated prune) delete it, and the child's finalizer its objects.
func TestGitSyncAppOfApps(t *testing.T) {
	startGitSyncController(t)
	ns := newNamespace(t)
	credentialsSecret(t, ns)
	srv, repo := gitRepo(t)
	url := srv.URL("config")
	rev1 := commit(t, repo, "two apps", appOfAppsFiles(url))
	newRootGitSync(t, ns, url)

	awaitRootHealthyAfterChildren(t, ns, rev1)
	root := getGitSync(t, ns, "root")
	if !syncedAt(rev1)(root) {
		t.Errorf("the root is Healthy but not Ready and synced at %s: %+v", short(rev1), root.Status.Conditions)
	}
	wantInventory := map[string]bool{ns + "_child-a_sluice.dev_GitSync": true, ns + "_child-b_sluice.dev_GitSync": true}
	if len(root.Status.Inventory) != 2 || !wantInventory[root.Status.Inventory[0].ID] || !wantInventory[root.Status.Inventory[1].ID] {
		t.Errorf("root inventory = %+v, want the two child GitSyncs", root.Status.Inventory)
	}
	for _, app := range []struct{ child, prefix string }{{"child-a", "a"}, {"child-b", "b"}} {
		child := getGitSync(t, ns, app.child)
		if child.Labels[sluicev1alpha1.LabelGitSyncName] != "root" || child.Labels[sluicev1alpha1.LabelGitSyncNamespace] != ns {
			t.Errorf("%s labels = %v, want the root's ownership labels", app.child, child.Labels)
		}
		if child.Spec.Source.RepoURL != url || child.Spec.Source.Path != "apps/"+app.prefix {
			t.Errorf("%s source = %+v, want %s apps/%s", app.child, child.Spec.Source, url, app.prefix)
		}
		if child.Status.Health == nil || child.Status.Health.Status != sluicev1alpha1.HealthHealthy || len(child.Status.Inventory) != 2 {
			t.Errorf("%s health %+v, inventory %v; want Healthy with its ConfigMap and Deployment", app.child, child.Status.Health, child.Status.Inventory)
		}
		cm := &corev1.ConfigMap{}
		if err := getObj(t, ns, app.prefix+"-settings", cm); err != nil {
			t.Errorf("%s's ConfigMap: %v", app.child, err)
		} else if cm.Labels[sluicev1alpha1.LabelGitSyncName] != app.child {
			t.Errorf("%s-settings labels = %v, want owned by %s", app.prefix, cm.Labels, app.child)
		}
		dep := &appsv1.Deployment{}
		if err := getObj(t, ns, app.prefix+"-web", dep); err != nil {
			t.Errorf("%s's Deployment: %v", app.child, err)
		} else if dep.Labels[sluicev1alpha1.LabelGitSyncName] != app.child || dep.Status.AvailableReplicas != 2 {
			t.Errorf("%s-web labels %v, %d available; want owned by %s with 2 available", app.prefix, dep.Labels, dep.Status.AvailableReplicas, app.child)
		}
	}

	// child-b's Deployment asks for a node no node matches and gives up after 2 s: child-b is
	// Degraded (Ready False), and so is the root, naming child-b; child-a stays Ready.
	rev2 := commit(t, repo, "b cannot schedule", map[string]string{
		"apps/b/deploy.yaml": appDeploymentYAML("b-web", "  progressDeadlineSeconds: 2\n", "      nodeSelector:\n        e2e.sluice.dev/no-such-node: \"true\"\n"),
	})
	childB := waitGitSync(t, ns, "child-b", 90*time.Second, "child-b Degraded", func(gs *sluicev1alpha1.GitSync) bool {
		return gs.Status.LastAppliedRevision == rev2 && gs.Status.Health != nil && gs.Status.Health.Status == sluicev1alpha1.HealthDegraded
	})
	if meta.IsStatusConditionTrue(childB.Status.Conditions, sluicev1alpha1.ConditionReady) {
		t.Errorf("child-b is Degraded but Ready: %+v", childB.Status.Conditions)
	}
	root = waitGitSync(t, ns, "root", 60*time.Second, "the root Degraded by child-b", func(gs *sluicev1alpha1.GitSync) bool {
		return gs.Status.Health != nil && gs.Status.Health.Status == sluicev1alpha1.HealthDegraded
	})
	if msg := root.Status.Health.Message; !strings.Contains(msg, "GitSync "+ns+"/child-b") || !strings.Contains(msg, "b-web") {
		t.Errorf("root health message %q does not name child-b and its Deployment", msg)
	}
	if c := meta.FindStatusCondition(root.Status.Conditions, sluicev1alpha1.ConditionReady); c == nil || c.Status != "False" || c.Reason != sluicev1alpha1.HealthDegraded {
		t.Errorf("root Ready = %+v, want False with reason Degraded", c)
	}
	if childA := getGitSync(t, ns, "child-a"); !syncedAt(rev2)(childA) {
		t.Errorf("child-a is not Ready at %s while only child-b is broken: %+v", short(rev2), childA.Status.Conditions)
	}

	// child-b leaves clusters/local: the root prunes it, and child-b's finalizer (automated prune)
	// deletes what it applied. child-a and its objects stay, and the root is Healthy again.
	rev3 := commit(t, repo, "drop b", nil, "clusters/local/b.yaml")
	root = waitGitSync(t, ns, "root", 60*time.Second, "the root pruned child-b", func(gs *sluicev1alpha1.GitSync) bool {
		return gs.Status.LastAppliedRevision == rev3 && hasResult(gs, "child-b", sluicev1alpha1.ResultPruned)
	})
	if len(root.Status.Inventory) != 1 || root.Status.Inventory[0].ID != ns+"_child-a_sluice.dev_GitSync" {
		t.Errorf("root inventory after the prune = %+v, want child-a alone", root.Status.Inventory)
	}
	eventually(t, 60*time.Second, "child-b and its objects deleted", func() (bool, error) {
		for _, obj := range []struct {
			name string
			obj  client.Object
		}{{"child-b", &sluicev1alpha1.GitSync{}}, {"b-settings", &corev1.ConfigMap{}}, {"b-web", &appsv1.Deployment{}}} {
			if err := getObj(t, ns, obj.name, obj.obj); !apierrors.IsNotFound(err) {
				return false, err
			}
		}
		return true, nil
	})
	if err := getObj(t, ns, "a-web", &appsv1.Deployment{}); err != nil {
		t.Errorf("child-a's Deployment after child-b was pruned: %v", err)
	}
	if err := getObj(t, ns, "a-settings", &corev1.ConfigMap{}); err != nil {
		t.Errorf("child-a's ConfigMap after child-b was pruned: %v", err)
	}
	waitGitSync(t, ns, "root", 60*time.Second, "the root Healthy with child-a alone", func(gs *sluicev1alpha1.GitSync) bool {
		return syncedAt(rev3)(gs) && gs.Status.Health != nil && gs.Status.Health.Status == sluicev1alpha1.HealthHealthy
	})
}

// TestGitSyncAppOfAppsChildThatCannotRender: a commit that breaks one child's YAML sets the
// child's Ready False (RenderFailed, Stalled); the issue asks that this counts in the root's
// health through the GitSync health rule, so the root is Degraded, naming the child.
func TestGitSyncAppOfAppsChildThatCannotRender(t *testing.T) {
	startGitSyncController(t)
	ns := newNamespace(t)
	credentialsSecret(t, ns)
	srv, repo := gitRepo(t)
	url := srv.URL("config")
	rev1 := commit(t, repo, "two apps", appOfAppsFiles(url))
	newRootGitSync(t, ns, url)
	waitGitSync(t, ns, "root", 120*time.Second, "the root Healthy", func(gs *sluicev1alpha1.GitSync) bool {
		return syncedAt(rev1)(gs) && gs.Status.Health != nil && gs.Status.Health.Status == sluicev1alpha1.HealthHealthy
	})

	commit(t, repo, "break b", map[string]string{"apps/b/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b-settings\ndata:\n  key: [unclosed\n"})
	waitGitSync(t, ns, "child-b", 60*time.Second, "child-b RenderFailed", conditionReason(sluicev1alpha1.ConditionReady, sluicev1alpha1.ReasonRenderFailed))
	root := waitGitSync(t, ns, "root", 30*time.Second, "the root Degraded by child-b's RenderFailed", func(gs *sluicev1alpha1.GitSync) bool {
		return gs.Status.Health != nil && gs.Status.Health.Status == sluicev1alpha1.HealthDegraded
	})
	if msg := root.Status.Health.Message; !strings.Contains(msg, "GitSync "+ns+"/child-b") {
		t.Errorf("root health message %q does not name child-b", msg)
	}
	if childA := getGitSync(t, ns, "child-a"); !meta.IsStatusConditionTrue(childA.Status.Conditions, sluicev1alpha1.ConditionReady) {
		t.Errorf("child-a is not Ready while only child-b is broken: %+v", childA.Status.Conditions)
	}
}
