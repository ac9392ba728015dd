package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sluicev1alpha1 "github.com/sluice-dev/sluice/api/sluice/v1alpha1"
	"github.com/sluice-dev/sluice/test/gitserver"
)

// TestGitSyncOverSSH: a GitSync fetches over ssh with the key and known hosts of its Secret; one
// whose knownHosts holds another host key is refused with FetchFailed.
func TestGitSyncOverSSH(t *testing.T) {
	startGitSyncController(t)
	ns := newNamespace(t)
	dir := t.TempDir()
	key, pub, err := gitserver.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := gitserver.StartSSH(dir, gitserver.SSHOptions{AuthorizedKeys: []ssh.PublicKey{pub}})
	if err != nil {
		t.Fatalf("start ssh server: %v", err)
	}
	t.Cleanup(srv.Stop)
	repo, err := gitserver.NewRepo(dir, "config")
	if err != nil {
		t.Fatal(err)
	}
	rev := commit(t, repo, "over ssh", map[string]string{"app/cm.yaml": configMapYAML("via-ssh", "")})
	// A known_hosts line for this address with some other server's key.
	other, err := gitserver.StartSSH(t.TempDir(), gitserver.SSHOptions{AuthorizedKeys: []ssh.PublicKey{pub}})
	if err != nil {
		t.Fatal(err)
	}
	other.Stop()
	wrongHosts := strings.Replace(other.KnownHostsLine(), other.Addr()[strings.LastIndex(other.Addr(), ":"):], srv.Addr()[strings.LastIndex(srv.Addr(), ":"):], 1)
	for name, hosts := range map[string]string{"ssh-creds": srv.KnownHostsLine() + "\n", "wrong-host": wrongHosts + "\n"} {
		sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Data: map[string][]byte{"sshPrivateKey": key, "knownHosts": []byte(hosts)}}
		if err := env.client.Create(context.Background(), sec); err != nil {
			t.Fatal(err)
		}
	}
	newGitSync(t, ns, "ssh", srv.URL("config"), "app", func(gs *sluicev1alpha1.GitSync) {
		gs.Spec.Source.SecretRef.Name = "ssh-creds"
	})
	waitGitSync(t, ns, "ssh", 60*time.Second, "sync over ssh", syncedAt(rev))
	if err := getObj(t, ns, "via-ssh", &corev1.ConfigMap{}); err != nil {
		t.Errorf("the ConfigMap from the ssh repo is missing: %v", err)
	}

	newGitSync(t, ns, "wrong", srv.URL("config"), "app", func(gs *sluicev1alpha1.GitSync) {
		gs.Spec.Source.SecretRef.Name = "wrong-host"
	})
	gs := waitGitSync(t, ns, "wrong", 60*time.Second, "FetchFailed on a wrong host key", conditionReason(sluicev1alpha1.ConditionReady, sluicev1alpha1.ReasonFetchFailed))
	if c := meta.FindStatusCondition(gs.Status.Conditions, sluicev1alpha1.ConditionReady); !strings.Contains(strings.ToLower(c.Message), "host key") {
		t.Errorf("FetchFailed message %q does not say the host key is wrong", c.Message)
	}
	if gs.Status.LastAppliedRevision != "" {
		t.Errorf("a GitSync with a wrong host key applied %s", gs.Status.LastAppliedRevision)
	}
}
