package e2e

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	sluicev1alpha1 "github.com/sluice-dev/sluice/api/sluice/v1alpha1"
	"github.com/sluice-dev/sluice/controllers/gitsync"
	"github.com/sluice-dev/sluice/test/cluster"
)

// TestGitSyncMultitenantInstall runs the GitSync controller with exactly the cluster rights
// config/multitenant binds to it (its ClusterRoleBindings, re-created for a controller identity of
// this test's own, since the shared cluster also holds config/default's binding) and the
// --default-service-account its Deployment passes. A GitSync that names no ServiceAccount applies
// as that ServiceAccount of its namespace; the live watch (sluice-sync-watch, list and watch
// only) still sees a hand deletion and self-heal puts the object back through the tenant's
// identity; what the tenant may not create fails naming it.
func TestGitSyncMultitenantInstall(t *testing.T) {
	ctx := context.Background()
	applyShippedRBAC(t) // the ClusterRoles
	bindings, defaultSA := renderMultitenant(t)
	ctrlNS := newNamespace(t)
	identity := "system:serviceaccount:" + ctrlNS + ":sluice-controller"
	for _, b := range bindings {
		own := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: ctrlNS + "-" + b.Name}, RoleRef: b.RoleRef,
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "sluice-controller", Namespace: ctrlNS}}}
		if err := env.client.Create(ctx, own); err != nil {
			t.Fatalf("bind %s: %v", b.RoleRef.Name, err)
		}
		t.Cleanup(func() { _ = env.client.Delete(context.Background(), own) })
	}

	tenant := newNamespace(t)
	credentialsSecret(t, tenant)
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: tenant, Name: defaultSA}}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: tenant, Name: "team"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
	}}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: tenant, Name: "team"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "team"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: defaultSA, Namespace: tenant}}}
	for _, o := range []client.Object{sa, role, binding} {
		if err := env.client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	// The controller itself may not write the tenant's ConfigMaps: every write the test sees went
	// through the tenant's ServiceAccount.
	review := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: identity,
		ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: tenant, Verb: "create", Resource: "configmaps"}}}
	if err := env.client.Create(ctx, review); err != nil {
		t.Fatal(err)
	}
	if review.Status.Allowed {
		t.Fatalf("config/multitenant lets the controller create ConfigMaps itself: the test would prove nothing")
	}

	startGitSyncReconcilerAs(t, identity, func(r *gitsync.Reconciler) { r.DefaultServiceAccount = defaultSA })
	srv, repo := gitRepo(t)
	rev := commit(t, repo, "team config", map[string]string{"team/cm.yaml": configMapYAML("settings", "")})
	newGitSync(t, tenant, "team", srv.URL("config"), "team", func(gs *sluicev1alpha1.GitSync) {
		gs.Spec.SyncPolicy.Automated.SelfHeal = true
	})
	waitGitSync(t, tenant, "team", 90*time.Second, "first sync as the tenant's ServiceAccount", syncedAt(rev))

	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: tenant, Name: "settings"}}
	old := &corev1.ConfigMap{}
	if err := getObj(t, tenant, "settings", old); err != nil {
		t.Fatal(err)
	}
	if err := env.client.Delete(ctx, cm); err != nil {
		t.Fatalf("delete by hand: %v", err)
	}
	eventually(t, 30*time.Second, "self-heal recreates the deleted ConfigMap", func() (bool, error) {
		now := &corev1.ConfigMap{}
		err := getObj(t, tenant, "settings", now)
		return err == nil && now.UID != old.UID, client.IgnoreNotFound(err)
	})

	rev2 := commit(t, repo, "a Deployment the tenant may not create", map[string]string{"team/deploy.yaml": deploymentYAML("web:1.0")})
	requestSync(t, tenant, "team")
	gs := waitGitSync(t, tenant, "team", 60*time.Second, "ApplyFailed on the Deployment", func(gs *sluicev1alpha1.GitSync) bool {
		// Refused when reading the live Deployments already, before any write.
		return gs.Status.Sync != nil && gs.Status.Sync.Revision == rev2 &&
			conditionReason(sluicev1alpha1.ConditionSynced, sluicev1alpha1.ReasonApplyFailed)(gs)
	})
	c := meta.FindStatusCondition(gs.Status.Conditions, sluicev1alpha1.ConditionSynced)
	if !strings.Contains(c.Message, `"system:serviceaccount:`+tenant+`:`+defaultSA+`"`) {
		t.Errorf("ApplyFailed message %q does not name the tenant's ServiceAccount", c.Message)
	}
	if err := getObj(t, tenant, "web", &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
		t.Errorf("the Deployment exists although the tenant may not create it (get: %v)", err)
	}
}

// renderMultitenant builds config/multitenant and returns the ClusterRoleBindings it gives the
// controller's ServiceAccount and the ServiceAccount its Deployment passes in
// --default-service-account.
func renderMultitenant(t *testing.T) ([]rbacv1.ClusterRoleBinding, string) {
	t.Helper()
	root, err := cluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(cluster.ToolsDir(), "kubectl"), "kustomize", "config/multitenant")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl kustomize config/multitenant: %v", err)
	}
	var bindings []rbacv1.ClusterRoleBinding
	defaultSA := ""
	for _, doc := range bytes.Split(out, []byte("\n---\n")) {
		var head metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &head); err != nil {
			t.Fatalf("decode config/multitenant: %v", err)
		}
		switch head.Kind {
		case "ClusterRoleBinding":
			b := rbacv1.ClusterRoleBinding{}
			if err := yaml.Unmarshal(doc, &b); err != nil {
				t.Fatal(err)
			}
			for _, s := range b.Subjects {
				if s.Kind == "ServiceAccount" && s.Name == "sluice-controller" {
					bindings = append(bindings, b)
				}
			}
		case "Deployment":
			d := appsv1.Deployment{}
			if err := yaml.Unmarshal(doc, &d); err != nil {
				t.Fatal(err)
			}
			for _, a := range d.Spec.Template.Spec.Containers[0].Args {
				if v, ok := strings.CutPrefix(a, "--default-service-account="); ok {
					defaultSA = v
				}
			}
		}
	}
	if defaultSA == "" {
		t.Fatal("config/multitenant's Deployment passes no --default-service-account")
	}
	names := []string{}
	for _, b := range bindings {
		names = append(names, b.RoleRef.Name)
		if b.RoleRef.Name == "sluice-sync" {
			t.Errorf("config/multitenant binds sluice-sync to the controller: it could write everywhere")
		}
	}
	if len(bindings) == 0 {
		t.Fatalf("config/multitenant binds no ClusterRole to the controller")
	}
	t.Logf("config/multitenant binds %v; --default-service-account=%s", names, defaultSA)
	return bindings, defaultSA
}
