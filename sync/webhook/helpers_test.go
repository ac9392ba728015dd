package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
)

const (
	githubSecret    = "gh-secret"
	gitlabSecret    = "gl-token"
	giteaSecret     = "gt-secret"
	bitbucketSecret = "bb-secret"
	genericSecret   = "generic-token"
)

var allSecrets = Secrets{
	GitHub: githubSecret, GitLab: gitlabSecret, Gitea: giteaSecret,
	Bitbucket: bitbucketSecret, Generic: genericSecret,
}

// Small payloads in the shape each sender posts, trimmed to the fields around the ones read.
const (
	githubPushBody = `{
  "ref": "refs/heads/main",
  "before": "9049f1265b7d61be4a8904a9a27120d2064dab3b",
  "after": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
  "created": false, "deleted": false, "forced": false,
  "repository": {
    "id": 186853002, "name": "config", "full_name": "Acme/config",
    "html_url": "https://github.com/Acme/config",
    "git_url": "git://github.com/Acme/config.git",
    "ssh_url": "git@github.com:Acme/config.git",
    "clone_url": "https://github.com/Acme/config.git",
    "default_branch": "main"
  },
  "pusher": {"name": "octo", "email": "octo@example.com"},
  "commits": [{"id": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c", "message": "bump image"}]
}`
	githubDeleteBody = `{
  "ref": "refs/heads/feature", "before": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
  "after": "0000000000000000000000000000000000000000", "deleted": true,
  "repository": {"clone_url": "https://github.com/Acme/config.git", "default_branch": "main"}
}`
	githubPingBody = `{"zen": "Keep it logically awesome.", "hook_id": 42, "repository": {"clone_url": "https://github.com/Acme/config.git"}}`

	giteaPushBody = `{
  "ref": "refs/tags/v1.2.0",
  "before": "0000000000000000000000000000000000000000",
  "after": "bffeb74224043ba2feb48d137756c8a9331c449a",
  "repository": {
    "id": 140, "full_name": "team/config",
    "html_url": "https://gitea.example.com/team/config",
    "ssh_url": "ssh://git@gitea.example.com:2222/team/config.git",
    "clone_url": "https://gitea.example.com/team/config.git",
    "default_branch": "develop"
  }
}`

	gitlabPushBody = `{
  "object_kind": "push", "event_name": "push",
  "before": "95790bf891e76fee5e1747ab589903a6a1f80f22",
  "after": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
  "ref": "refs/heads/release",
  "checkout_sha": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
  "project": {
    "id": 15, "name": "config", "path_with_namespace": "group/sub/config",
    "web_url": "https://gitlab.example.com/group/sub/config",
    "git_ssh_url": "git@gitlab.example.com:group/sub/config.git",
    "git_http_url": "https://gitlab.example.com/group/sub/config.git",
    "default_branch": "main"
  },
  "repository": {
    "name": "config",
    "url": "git@gitlab.example.com:group/sub/config.git",
    "homepage": "https://gitlab.example.com/group/sub/config",
    "git_http_url": "https://gitlab.example.com/group/sub/config.git",
    "git_ssh_url": "git@gitlab.example.com:group/sub/config.git"
  },
  "total_commits_count": 1
}`
	gitlabTagBody = `{
  "object_kind": "tag_push",
  "before": "0000000000000000000000000000000000000000",
  "after": "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7",
  "ref": "refs/tags/v2.0.0",
  "checkout_sha": "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7",
  "project": {"git_http_url": "https://gitlab.example.com/group/sub/config.git", "default_branch": "main"}
}`
	gitlabDeleteBody = `{
  "object_kind": "push", "ref": "refs/heads/old",
  "before": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
  "after": "0000000000000000000000000000000000000000", "checkout_sha": null,
  "project": {"git_http_url": "https://gitlab.example.com/group/sub/config.git", "default_branch": "main"}
}`

	bitbucketPushBody = `{
  "actor": {"display_name": "Ada"},
  "repository": {
    "type": "repository", "name": "config", "full_name": "acme/config",
    "links": {"html": {"href": "https://bitbucket.org/acme/config"}}
  },
  "push": {"changes": [
    {"new": {"type": "branch", "name": "main", "target": {"type": "commit", "hash": "709d658dc5b6d6afcd46049c2f332ee3f515a67d"}},
     "old": {"type": "branch", "name": "main", "target": {"hash": "1e65c05c1d5171631d92438a13901ca7dae9618c"}},
     "created": false, "closed": false},
    {"new": {"type": "tag", "name": "v3", "target": {"hash": "709d658dc5b6d6afcd46049c2f332ee3f515a67d"}},
     "old": null, "created": true, "closed": false},
    {"new": null, "old": {"type": "branch", "name": "gone"}, "closed": true}
  ]}
}`

	genericBody = `{"repoURL": "https://git.example.com/ops/config.git", "branch": "refs/heads/main", "revision": "abc1234"}`
)

// sign is the hex HMAC-SHA256 of body keyed with secret.
func sign(secret, body string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	return hex.EncodeToString(mac.Sum(nil))
}

// headers builds a header set from name, value pairs.
func headers(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

// signedHeaders are the headers a correctly configured sender posts body with.
func signedHeaders(t *testing.T, providerName, event, body string) http.Header {
	t.Helper()
	switch providerName {
	case ProviderGitHub:
		return headers("X-GitHub-Event", event, "X-GitHub-Delivery", "d-1", "X-Hub-Signature-256", "sha256="+sign(githubSecret, body))
	case ProviderGitea:
		return headers("X-Gitea-Event", event, "X-GitHub-Event", event, "X-Gitea-Signature", sign(giteaSecret, body))
	case ProviderGitLab:
		return headers("X-Gitlab-Event", event, "X-Gitlab-Token", gitlabSecret)
	case ProviderBitbucket:
		return headers("X-Event-Key", event, "X-Hub-Signature", "sha256="+sign(bitbucketSecret, body))
	case ProviderGeneric:
		return headers("Authorization", "Bearer "+genericSecret)
	}
	t.Fatalf("no headers for provider %q", providerName)
	return nil
}

// recorder is a Trigger that records the events and triggers a fixed number of GitSyncs each.
type recorder struct {
	mu     sync.Mutex
	events []Event
	each   int
	err    error
}

func (r *recorder) trigger(_ context.Context, ev Event) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	return r.each, r.err
}

func staticSecrets(s Secrets) func(context.Context) (Secrets, error) {
	return func(context.Context) (Secrets, error) { return s, nil }
}

// serve posts body with h to rc and returns the response.
func serve(rc *Receiver, method string, h http.Header, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "/webhook", strings.NewReader(body))
	for k, v := range h {
		req.Header[k] = v
	}
	w := httptest.NewRecorder()
	rc.ServeHTTP(w, req)
	return w
}

func assertEvents(t *testing.T, got, want []Event) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("events:\n got %+v\nwant %+v", got, want)
	}
}
