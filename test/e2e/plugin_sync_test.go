package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	sluicev1alpha1 "github.com/sluice-dev/sluice/api/sluice/v1alpha1"
)

// writeCheckout writes files under dir, as a local checkout of the config repository.
func writeCheckout(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// hasLine reports whether text has a line that starts with prefix and contains want.
func hasLine(text, prefix, want string) bool {
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) && strings.Contains(l, want) {
			return true
		}
	}
	return false
}

// TestPluginSync drives a manual GitSync with the plugin against the local cluster and the real Git
// server: get sync and diff sync before the first sync, sync --wait, get/list sync after it, diff
// sync --local of an unchanged and of a modified checkout (a dry run that changes nothing), diff
// sync of a new revision in Git, and sync --wait of a revision whose PreSync hook the API server
// refuses.
func TestPluginSync(t *testing.T) {
	startGitSyncController(t)
	ns := newNamespace(t)
	credentialsSecret(t, ns)
	srv, repo := gitRepo(t)
	files := map[string]string{
		"app/config.yaml":  configMapYAML("settings", ""),
		"app/deploy.yaml":  deploymentYAML("web:1.0"),
		"app/migrate.yaml": migrationJobYAML,
	}
	rev1 := commit(t, repo, "first: web 1.0", files)
	newGitSync(t, ns, "app", srv.URL("config"), "app", func(gs *sluicev1alpha1.GitSync) {
		gs.Spec.SyncPolicy = &sluicev1alpha1.SyncPolicy{} // manual: only a request syncs
	})
	waitGitSync(t, ns, "app", time.Minute, "OutOfSync at the first revision", func(gs *sluicev1alpha1.GitSync) bool {
		return gs.Status.Sync != nil && gs.Status.Sync.Revision == rev1 && gs.Status.Sync.Status == sluicev1alpha1.SyncStatusOutOfSync
	})

	// Before the first sync: get shows OutOfSync at the revision; diff shows every object added.
	get := mustPlugin(t, ns, "OutOfSync", "get", "sync", "app")
	for _, want := range []string{"Source:         " + srv.URL("config"), "Revision:       " + rev1[:7] + " first: web 1.0", "Out of sync:"} {
		if !strings.Contains(get.stdout, want) {
			t.Errorf("get sync before the first sync lacks %q:\n%s", want, get.stdout)
		}
	}
	diff := runPlugin(t, ns, "diff", "sync", "app")
	if diff.code != 1 || !strings.Contains(diff.stdout, "+++ git/Deployment "+ns+"/web") || !hasLine(diff.stdout, "+", "image: web:1.0") ||
		strings.Contains(diff.stdout, "migrate") {
		t.Fatalf("diff sync before the first sync: exit %d, want 1 with the Deployment added (and no hook):\n%s%s", diff.code, diff.stdout, diff.stderr)
	}

	// sync --wait returns once the operation of this request ended.
	res := mustPlugin(t, ns, "Succeeded", "sync", "app", "--wait", "--timeout", "2m")
	if !strings.Contains(res.stdout, "gitsync 'app' sync requested") {
		t.Errorf("sync --wait output lacks the request line:\n%s", res.stdout)
	}
	gs := getGitSync(t, ns, "app")
	if req := gs.Annotations[sluicev1alpha1.AnnotationSyncRequested]; req == "" || gs.Status.LastSyncRequested != req ||
		gs.Status.OperationState == nil || gs.Status.OperationState.Phase != sluicev1alpha1.OperationSucceeded {
		t.Fatalf("after sync --wait: annotation %q, lastSyncRequested %q, operation %+v", req, gs.Status.LastSyncRequested, gs.Status.OperationState)
	}
	if err := getObj(t, ns, "settings", &corev1.ConfigMap{}); err != nil {
		t.Fatalf("the ConfigMap after sync --wait: %v", err)
	}
	waitGitSync(t, ns, "app", time.Minute, "synced and healthy", func(gs *sluicev1alpha1.GitSync) bool {
		return syncedAt(rev1)(gs) && gs.Status.Health != nil && gs.Status.Health.Status == sluicev1alpha1.HealthHealthy
	})

	get = mustPlugin(t, ns, "Synced", "get", "sync", "app")
	for _, want := range []string{"Health:         Healthy", "Operation:      Succeeded", "PreSync, wave 0", "Job/migrate", "HookSucceeded",
		"Sync, wave 0", "ConfigMap/settings", "Sync, wave 1", "Deployment/web", "History:", rev1[:7]} {
		if !strings.Contains(get.stdout, want) {
			t.Errorf("get sync lacks %q:\n%s", want, get.stdout)
		}
	}
	for i, l := range strings.Split(strings.TrimRight(get.stdout, "\n"), "\n") {
		if n := utf8.RuneCountInString(l); n > 80 {
			t.Errorf("get sync line %d is %d columns wide: %q", i+1, n, l)
		}
	}
	list := mustPlugin(t, ns, "app", "list", "syncs")
	if !hasLine(list.stdout, "app ", "Synced") || !strings.Contains(list.stdout, rev1[:7]) {
		t.Errorf("list syncs:\n%s", list.stdout)
	}
	asJSON := mustPlugin(t, ns, "", "get", "sync", "app", "-o", "json")
	var decoded sluicev1alpha1.GitSync
	if err := json.Unmarshal([]byte(asJSON.stdout), &decoded); err != nil || decoded.Name != "app" || decoded.Kind != "GitSync" ||
		decoded.Status.LastAppliedRevision != rev1 {
		t.Errorf("get sync -o json: %v, %+v", err, decoded.ObjectMeta)
	}
	if d := runPlugin(t, ns, "diff", "sync", "app"); d.code != 0 || d.stdout != "" {
		t.Fatalf("diff sync of a synced GitSync: exit %d, want 0 and no output:\n%s%s", d.code, d.stdout, d.stderr)
	}

	// diff --local: the same files differ in nothing; a modified checkout shows the changed field,
	// and the dry run changes nothing in the cluster.
	dir := t.TempDir()
	writeCheckout(t, dir, files)
	if d := runPlugin(t, ns, "diff", "sync", "app", "--local", dir); d.code != 0 || d.stdout != "" {
		t.Fatalf("diff sync --local of the synced files: exit %d, want 0 and no output:\n%s%s", d.code, d.stdout, d.stderr)
	}
	before := &appsv1.Deployment{}
	if err := getObj(t, ns, "web", before); err != nil {
		t.Fatal(err)
	}
	writeCheckout(t, dir, map[string]string{"app/deploy.yaml": deploymentYAML("web:2.0")})
	d := runPlugin(t, ns, "diff", "sync", "app", "--local", dir)
	if d.code != 1 || !strings.Contains(d.stdout, "--- live/Deployment "+ns+"/web") ||
		!hasLine(d.stdout, "-", "image: web:1.0") || !hasLine(d.stdout, "+", "image: web:2.0") || strings.Contains(d.stdout, "ConfigMap") {
		t.Fatalf("diff sync --local of a changed image: exit %d, want 1 with the image line changed:\n%s%s", d.code, d.stdout, d.stderr)
	}
	after := &appsv1.Deployment{}
	if err := getObj(t, ns, "web", after); err != nil {
		t.Fatal(err)
	}
	if after.ResourceVersion != before.ResourceVersion || after.Spec.Template.Spec.Containers[0].Image != "web:1.0" {
		t.Fatalf("diff --local changed the Deployment: resourceVersion %s -> %s, image %s", before.ResourceVersion, after.ResourceVersion,
			after.Spec.Template.Spec.Containers[0].Image)
	}

	// A new revision in Git, diffed from the remote: the changed image, and the ConfigMap that left
	// Git (kept: this GitSync does not prune).
	rev2 := commit(t, repo, "web 2.0, settings gone", map[string]string{"app/deploy.yaml": deploymentYAML("web:2.0")}, "app/config.yaml")
	d = runPlugin(t, ns, "diff", "sync", "app")
	if d.code != 1 || !hasLine(d.stdout, "-", "image: web:1.0") || !hasLine(d.stdout, "+", "image: web:2.0") ||
		!strings.Contains(d.stdout, "--- live/ConfigMap "+ns+"/settings\n+++ /dev/null\n# left Git") || !strings.Contains(d.stderr, rev2[:7]) {
		t.Fatalf("diff sync of a new revision: exit %d, want 1 with the image and the ConfigMap that left Git:\n%s%s", d.code, d.stdout, d.stderr)
	}

	// A PreSync hook the API server refuses: sync --wait exits 1 with the operation's message.
	commit(t, repo, "bad migration", map[string]string{"app/migrate.yaml": strings.Replace(migrationJobYAML, "spec:\n", "spec:\n  backoffLimit: -1\n", 1)})
	failed := runPlugin(t, ns, "sync", "app", "--wait", "--timeout", "2m")
	if failed.code != 1 || !strings.Contains(failed.stderr, "Failed") || !strings.Contains(failed.stderr, "migrate") {
		t.Fatalf("sync --wait of a failing hook: exit %d, want 1 naming the hook:\n%s%s", failed.code, failed.stdout, failed.stderr)
	}
	mustPlugin(t, ns, "HookFailed", "get", "sync", "app")
}
