package e2e

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// githubPush sends a GitHub push event for the main branch of the repository at url, signed with
// secret, and returns the status code and body.
func githubPush(t *testing.T, receiver, url, after, secret string) (int, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"ref": "refs/heads/main", "after": after,
		"repository": map[string]any{"clone_url": url + ".git", "html_url": url, "default_branch": "main"},
	})
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	req, _ := http.NewRequest(http.MethodPost, receiver+"/webhook", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", "e2e-"+after[:7])
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("send push: %v", err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(out))
}

// TestGitSyncWebhookPush: with an interval of an hour, a signed GitHub push reaches the cluster at
// once; a badly signed one is refused with 401 and triggers nothing.
func TestGitSyncWebhookPush(t *testing.T) {
	r := startGitSyncReconciler(t)
	ns := newNamespace(t)
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "webhook"}, StringData: map[string]string{"github": "hook-secret"}}
	if err := env.client.Create(context.Background(), sec); err != nil {
		t.Fatal(err)
	}
	receiver := httptest.NewServer(r.WebhookReceiver(types.NamespacedName{Namespace: ns, Name: "webhook"}))
	t.Cleanup(receiver.Close)

	credentialsSecret(t, ns)
	srv, repo := gitRepo(t)
	rev1 := commit(t, repo, "v1", map[string]string{"app/deploy.yaml": deploymentYAML("web:1.0")})
	newGitSync(t, ns, "app", srv.URL("config"), "app", nil)
	waitGitSync(t, ns, "app", 60*time.Second, "first sync", syncedAt(rev1))

	rev2 := commit(t, repo, "v2", map[string]string{"app/deploy.yaml": deploymentYAML("web:2.0")})
	if code, body := githubPush(t, receiver.URL, srv.URL("config"), rev2, "wrong-secret"); code != http.StatusUnauthorized {
		t.Fatalf("a badly signed push got %d %q, want 401", code, body)
	}
	if gs := getGitSync(t, ns, "app"); gs.Status.Sync.Revision != rev1 {
		t.Fatalf("a refused push moved the GitSync to %s", gs.Status.Sync.Revision)
	}
	start := time.Now()
	code, body := githubPush(t, receiver.URL, srv.URL("config"), rev2, "hook-secret")
	if code != http.StatusOK || !strings.Contains(body, "1") {
		t.Fatalf("a signed push got %d %q, want 200 triggering 1 GitSync", code, body)
	}
	waitGitSync(t, ns, "app", 30*time.Second, "the pushed revision applied", syncedAt(rev2))
	t.Logf("push to applied and healthy: %s", time.Since(start))
	if img := deploymentImage(t, ns, "web"); img != "web:2.0" {
		t.Errorf("image %s after the push, want web:2.0", img)
	}
	// A push to another repository triggers nothing.
	if code, body := githubPush(t, receiver.URL, srv.URL("other"), rev2, "hook-secret"); code != http.StatusOK || strings.Contains(body, "triggered 1") {
		t.Errorf("a push of another repository got %d %q", code, body)
	}
}

func deploymentImage(t *testing.T, ns, name string) string {
	t.Helper()
	dep := &appsv1.Deployment{}
	if err := getObj(t, ns, name, dep); err != nil {
		t.Fatalf("get deployment: %v", err)
	}
	return dep.Spec.Template.Spec.Containers[0].Image
}
