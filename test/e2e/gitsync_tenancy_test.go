package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	sluicev1alpha1 "github.com/sluice-dev/sluice/api/sluice/v1alpha1"
)

// TestGitSyncServiceAccountLimitsWhatItApplies: a GitSync that applies as a ServiceAccount allowed
// ConfigMaps only fails on the Secret with the API server's message.
func TestGitSyncServiceAccountLimitsWhatItApplies(t *testing.T) {
	startGitSyncController(t)
	ns := newNamespace(t)
	credentialsSecret(t, ns)
	ctx := context.Background()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "team"}}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "configmaps"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "list", "watch"}},
	}}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "team"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "configmaps"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "team", Namespace: ns}}}
	if err := env.client.Create(ctx, sa); err != nil {
		t.Fatal(err)
	}
	if err := env.client.Create(ctx, role); err != nil {
		t.Fatal(err)
	}
	if err := env.client.Create(ctx, binding); err != nil {
		t.Fatal(err)
	}
	srv, repo := gitRepo(t)
	commit(t, repo, "team config", map[string]string{
		"team/cm.yaml":     configMapYAML("allowed", ""),
		"team/secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: forbidden\nstringData:\n  token: abc\n",
	})
	newGitSync(t, ns, "team", srv.URL("config"), "team", func(gs *sluicev1alpha1.GitSync) { gs.Spec.ServiceAccountName = "team" })
	gs := waitGitSync(t, ns, "team", 60*time.Second, "ApplyFailed on the Secret", conditionReason(sluicev1alpha1.ConditionSynced, sluicev1alpha1.ReasonApplyFailed))
	c := meta.FindStatusCondition(gs.Status.Conditions, sluicev1alpha1.ConditionSynced)
	if !strings.Contains(c.Message, "forbidden") || !strings.Contains(c.Message, `"system:serviceaccount:`+ns+`:team"`) {
		t.Errorf("ApplyFailed message %q lacks the API server's refusal for the ServiceAccount", c.Message)
	}
	if !hasResult(gs, "forbidden", sluicev1alpha1.ResultSyncFailed) {
		t.Errorf("the Secret's result is not SyncFailed: %+v", gs.Status.OperationState.Resources)
	}
	if err := getObj(t, ns, "forbidden", &corev1.Secret{}); !apierrors.IsNotFound(err) {
		t.Errorf("the Secret exists although the ServiceAccount may not create it (get: %v)", err)
	}
}

// TestGitSyncSharedResourceAndDeletion: a second GitSync naming the same object does not take it
// over; deleting a GitSync without prune leaves its objects unlabelled, with prune deletes them.
func TestGitSyncSharedResourceAndDeletion(t *testing.T) {
	startGitSyncController(t)
	ns := newNamespace(t)
	credentialsSecret(t, ns)
	srv, repo := gitRepo(t)
	rev := commit(t, repo, "two paths", map[string]string{
		"a/shared.yaml": configMapYAML("shared", ""),
		"a/own.yaml":    configMapYAML("a-only", ""),
		"b/shared.yaml": configMapYAML("shared", ""),
	})
	newGitSync(t, ns, "a", srv.URL("config"), "a", func(gs *sluicev1alpha1.GitSync) { gs.Spec.SyncPolicy.Automated.Prune = false })
	waitGitSync(t, ns, "a", 60*time.Second, "first GitSync synced", syncedAt(rev))
	newGitSync(t, ns, "b", srv.URL("config"), "b", nil)
	gs := waitGitSync(t, ns, "b", 60*time.Second, "SharedResource", conditionReason(sluicev1alpha1.ConditionSynced, sluicev1alpha1.ReasonSharedResource))
	if c := meta.FindStatusCondition(gs.Status.Conditions, sluicev1alpha1.ConditionSynced); !strings.Contains(c.Message, ns+"/a") {
		t.Errorf("SharedResource message %q does not name the owning GitSync", c.Message)
	}
	cm := &corev1.ConfigMap{}
	if err := getObj(t, ns, "shared", cm); err != nil || cm.Labels[sluicev1alpha1.LabelGitSyncName] != "a" {
		t.Fatalf("shared ConfigMap labels = %v (err %v), want owned by a", cm.Labels, err)
	}

	// Without prune, deleting a lets go of its objects.
	deleteGitSync(t, ns, "a")
	for _, name := range []string{"shared", "a-only"} {
		cm := &corev1.ConfigMap{}
		if err := getObj(t, ns, name, cm); err != nil {
			t.Fatalf("%s is gone after deleting a GitSync without prune: %v", name, err)
		}
		if _, ok := cm.Labels[sluicev1alpha1.LabelGitSyncName]; ok {
			t.Errorf("%s still carries the ownership label: %v", name, cm.Labels)
		}
	}
	// Now b may take the shared object (a sync request), and with prune its deletion deletes it.
	requestSync(t, ns, "b")
	waitGitSync(t, ns, "b", 60*time.Second, "b synced after a let go", syncedAt(rev))
	deleteGitSync(t, ns, "b")
	if err := getObj(t, ns, "shared", &corev1.ConfigMap{}); !apierrors.IsNotFound(err) {
		t.Errorf("shared survived deleting its GitSync with prune (get: %v)", err)
	}
}

// TestGitSyncCRDAndCustomResourceInOneCommit: the CRD is applied and Established before its
// custom resource, without a restart.
func TestGitSyncCRDAndCustomResourceInOneCommit(t *testing.T) {
	startGitSyncController(t)
	ns := newNamespace(t)
	credentialsSecret(t, ns)
	srv, repo := gitRepo(t)
	group := strings.ReplaceAll(ns, "-", "") + ".example.com"
	crd := `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.` + group + `
spec:
  group: ` + group + `
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
`
	rev := commit(t, repo, "crd and cr", map[string]string{
		"crd/widget.yaml": "apiVersion: " + group + "/v1\nkind: Widget\nmetadata:\n  name: w1\nspec:\n  size: 3\n",
		"crd/crd.yaml":    crd,
	})
	newGitSync(t, ns, "crd", srv.URL("config"), "crd", nil)
	t.Cleanup(func() {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"})
		u.SetName("widgets." + group)
		_ = env.client.Delete(context.Background(), u)
	})
	waitGitSync(t, ns, "crd", 90*time.Second, "CRD and CR synced", syncedAt(rev))
	w := &unstructured.Unstructured{}
	w.SetGroupVersionKind(schema.GroupVersionKind{Group: group, Version: "v1", Kind: "Widget"})
	if err := getObj(t, ns, "w1", w); err != nil {
		t.Fatalf("the custom resource was not applied: %v", err)
	}
	if size, _, _ := unstructured.NestedInt64(w.Object, "spec", "size"); size != 3 {
		t.Errorf("widget spec.size = %d, want 3", size)
	}
}

func deleteGitSync(t *testing.T, ns, name string) {
	t.Helper()
	gs := getGitSync(t, ns, name)
	if err := env.client.Delete(context.Background(), gs); err != nil {
		t.Fatalf("delete gitsync %s: %v", name, err)
	}
	eventually(t, 60*time.Second, "GitSync "+name+" gone", func() (bool, error) {
		err := getObj(t, ns, name, &sluicev1alpha1.GitSync{})
		return apierrors.IsNotFound(err), client0(err)
	})
}

func client0(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
