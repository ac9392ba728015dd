package webhook

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    http.Header
		want string
	}{
		{"github", headers("X-GitHub-Event", "push"), ProviderGitHub},
		{"gitea also sends GitHub's header", headers("X-GitHub-Event", "push", "X-Gitea-Event", "push"), ProviderGitea},
		{"gitlab", headers("X-Gitlab-Event", "Push Hook"), ProviderGitLab},
		{"bitbucket", headers("X-Event-Key", "repo:push"), ProviderBitbucket},
		{"generic", headers("Authorization", "bearer abc"), ProviderGeneric},
		{"basic auth is not generic", headers("Authorization", "Basic YTpi"), ProviderUnknown},
		{"nothing", headers(), ProviderUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, known := detect(tc.h)
			if p.name != tc.want || known != (tc.want != ProviderUnknown) {
				t.Errorf("detect = %q (known %v), want %q", p.name, known, tc.want)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	const body = `{"ref":"refs/heads/main"}`
	for _, tc := range []struct {
		name     string
		provider string
		h        http.Header
		secret   string
		wantErr  string // "" for success
	}{
		{"github right", ProviderGitHub, headers("X-Hub-Signature-256", "sha256="+sign(githubSecret, body)), githubSecret, ""},
		{"github wrong", ProviderGitHub, headers("X-Hub-Signature-256", "sha256="+sign("other", body)), githubSecret, "signature does not match"},
		{"github missing", ProviderGitHub, headers(), githubSecret, "missing X-Hub-Signature-256 header"},
		{"github without prefix", ProviderGitHub, headers("X-Hub-Signature-256", sign(githubSecret, body)), githubSecret, "not of the form sha256="},
		{"github not hex", ProviderGitHub, headers("X-Hub-Signature-256", "sha256=zz"), githubSecret, "is not hex"},
		{"github sha1 header only", ProviderGitHub, headers("X-Hub-Signature", "sha1=abcd"), githubSecret, "missing X-Hub-Signature-256"},
		{"gitea right", ProviderGitea, headers("X-Gitea-Signature", sign(giteaSecret, body)), giteaSecret, ""},
		{"gitea wrong", ProviderGitea, headers("X-Gitea-Signature", sign(githubSecret, body)), giteaSecret, "signature does not match"},
		{"gitea missing", ProviderGitea, headers(), giteaSecret, "missing X-Gitea-Signature header"},
		{"gitlab right", ProviderGitLab, headers("X-Gitlab-Token", gitlabSecret), gitlabSecret, ""},
		{"gitlab wrong", ProviderGitLab, headers("X-Gitlab-Token", gitlabSecret+"x"), gitlabSecret, "token does not match"},
		{"gitlab missing", ProviderGitLab, headers(), gitlabSecret, "missing X-Gitlab-Token header"},
		{"bitbucket right", ProviderBitbucket, headers("X-Hub-Signature", "sha256="+sign(bitbucketSecret, body)), bitbucketSecret, ""},
		{"bitbucket wrong", ProviderBitbucket, headers("X-Hub-Signature", "sha256="+sign(bitbucketSecret, body+" ")), bitbucketSecret, "signature does not match"},
		{"bitbucket missing", ProviderBitbucket, headers(), bitbucketSecret, "missing X-Hub-Signature header"},
		{"generic right", ProviderGeneric, headers("Authorization", "Bearer "+genericSecret), genericSecret, ""},
		{"generic wrong", ProviderGeneric, headers("Authorization", "Bearer nope"), genericSecret, "bearer token does not match"},
		{"generic missing", ProviderGeneric, headers("Authorization", "Bearer "), genericSecret, "missing bearer token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := providerNamed(t, tc.provider).verify(tc.h, []byte(body), tc.secret)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("verify: %v, want success", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("verify: %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestErrorsNeverEchoTheSecret(t *testing.T) {
	for _, p := range providers {
		h := headers("X-Hub-Signature-256", "sha256=00", "X-Gitea-Signature", "00", "X-Hub-Signature", "sha256=00",
			"X-Gitlab-Token", "guess", "Authorization", "Bearer guess")
		err := p.verify(h, []byte("{}"), "s3cr3t-value")
		if err == nil || strings.Contains(err.Error(), "s3cr3t-value") || strings.Contains(err.Error(), "guess") {
			t.Errorf("%s: verify error %v must exist and not echo a secret or token", p.name, err)
		}
	}
}

func TestParse(t *testing.T) {
	form := url.Values{"payload": {githubPushBody}}.Encode()
	githubEvent := Event{
		Provider: ProviderGitHub,
		RepoURLs: []string{"https://github.com/Acme/config.git", "git@github.com:Acme/config.git",
			"https://github.com/Acme/config", "git://github.com/Acme/config.git"},
		Branch: "main", Commit: "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c", DefaultBranch: "main",
	}
	gitlabURLs := []string{"https://gitlab.example.com/group/sub/config.git", "git@gitlab.example.com:group/sub/config.git",
		"https://gitlab.example.com/group/sub/config"}
	bitbucketURLs := []string{"https://bitbucket.org/acme/config"}
	for _, tc := range []struct {
		name        string
		provider    string
		h           http.Header
		body        string
		want        []Event
		wantIgnored string
	}{
		{"github push", ProviderGitHub, headers("X-GitHub-Event", "push"), githubPushBody, []Event{githubEvent}, ""},
		{"github form-encoded push", ProviderGitHub,
			headers("X-GitHub-Event", "push", "Content-Type", "application/x-www-form-urlencoded"), form, []Event{githubEvent}, ""},
		{"github ping", ProviderGitHub, headers("X-GitHub-Event", "ping"), githubPingBody, nil, `ignored github event "ping"`},
		{"github issues", ProviderGitHub, headers("X-GitHub-Event", "issues"), `{}`, nil, `ignored github event "issues"`},
		{"github branch deletion", ProviderGitHub, headers("X-GitHub-Event", "push"), githubDeleteBody, nil, "ignored deletion of refs/heads/feature"},
		{"github note ref", ProviderGitHub, headers("X-GitHub-Event", "push"),
			`{"ref":"refs/notes/commits","after":"0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c","repository":{"clone_url":"https://github.com/a/b"}}`,
			nil, `neither a branch nor a tag`},
		{"gitea tag push", ProviderGitea, headers("X-Gitea-Event", "push"), giteaPushBody, []Event{{
			Provider: ProviderGitea,
			RepoURLs: []string{"https://gitea.example.com/team/config.git", "ssh://git@gitea.example.com:2222/team/config.git",
				"https://gitea.example.com/team/config"},
			Tag: "v1.2.0", Commit: "bffeb74224043ba2feb48d137756c8a9331c449a", DefaultBranch: "develop",
		}}, ""},
		{"gitea other event", ProviderGitea, headers("X-Gitea-Event", "issues"), `{}`, nil, `ignored gitea event "issues"`},
		{"gitlab push", ProviderGitLab, headers("X-Gitlab-Event", "Push Hook"), gitlabPushBody, []Event{{
			Provider: ProviderGitLab, RepoURLs: gitlabURLs,
			Branch: "release", Commit: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", DefaultBranch: "main",
		}}, ""},
		{"gitlab tag push", ProviderGitLab, headers("X-Gitlab-Event", "Tag Push Hook"), gitlabTagBody, []Event{{
			Provider: ProviderGitLab, RepoURLs: gitlabURLs[:1],
			Tag: "v2.0.0", Commit: "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7", DefaultBranch: "main",
		}}, ""},
		{"gitlab system hook push", ProviderGitLab, headers("X-Gitlab-Event", "System Hook"), gitlabTagBody, []Event{{
			Provider: ProviderGitLab, RepoURLs: gitlabURLs[:1],
			Tag: "v2.0.0", Commit: "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7", DefaultBranch: "main",
		}}, ""},
		{"gitlab system hook of another kind", ProviderGitLab, headers("X-Gitlab-Event", "System Hook"),
			`{"object_kind":"merge_request"}`, nil, `of kind "merge_request"`},
		{"gitlab branch deletion", ProviderGitLab, headers("X-Gitlab-Event", "Push Hook"), gitlabDeleteBody, nil, "ignored deletion of refs/heads/old"},
		{"gitlab merge request", ProviderGitLab, headers("X-Gitlab-Event", "Merge Request Hook"), `{}`, nil, `ignored gitlab event "Merge Request Hook"`},
		{"bitbucket push of a branch and a tag", ProviderBitbucket, headers("X-Event-Key", "repo:push"), bitbucketPushBody, []Event{
			{Provider: ProviderBitbucket, RepoURLs: bitbucketURLs, Branch: "main", Commit: "709d658dc5b6d6afcd46049c2f332ee3f515a67d"},
			{Provider: ProviderBitbucket, RepoURLs: bitbucketURLs, Tag: "v3", Commit: "709d658dc5b6d6afcd46049c2f332ee3f515a67d"},
		}, ""},
		{"bitbucket deletion only", ProviderBitbucket, headers("X-Event-Key", "repo:push"),
			`{"repository":{"full_name":"acme/config"},"push":{"changes":[{"new":null}]}}`, nil, "changed no branch or tag"},
		{"bitbucket pull request", ProviderBitbucket, headers("X-Event-Key", "pullrequest:created"), `{}`, nil, `ignored bitbucket event "pullrequest:created"`},
		{"generic", ProviderGeneric, headers(), genericBody, []Event{{
			Provider: ProviderGeneric, RepoURLs: []string{"https://git.example.com/ops/config.git"}, Branch: "main", Commit: "abc1234",
		}}, ""},
		{"generic without a ref", ProviderGeneric, headers(), `{"repoURL":"git@git.example.com:ops/config.git"}`, []Event{{
			Provider: ProviderGeneric, RepoURLs: []string{"git@git.example.com:ops/config.git"},
		}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := providerNamed(t, tc.provider).parse(tc.h, []byte(tc.body))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			assertEvents(t, got.events, tc.want)
			if !strings.Contains(got.ignored, tc.wantIgnored) || (tc.wantIgnored == "") != (got.ignored == "") {
				t.Errorf("ignored = %q, want %q", got.ignored, tc.wantIgnored)
			}
		})
	}
}

func TestParseRefusesBadPayloads(t *testing.T) {
	for _, tc := range []struct {
		name     string
		provider string
		h        http.Header
		body     string
		wantErr  string
	}{
		{"github not json", ProviderGitHub, headers("X-GitHub-Event", "push"), `{"ref":`, "parse github push payload"},
		{"github no repository", ProviderGitHub, headers("X-GitHub-Event", "push"), `{"ref":"refs/heads/main"}`, "names no repository URL"},
		{"github form without payload", ProviderGitHub,
			headers("X-GitHub-Event", "push", "Content-Type", "application/x-www-form-urlencoded"), "a=b", "form has no payload field"},
		{"gitlab not json", ProviderGitLab, headers("X-Gitlab-Event", "Push Hook"), `[`, "parse gitlab push hook payload"},
		{"bitbucket no repository", ProviderBitbucket, headers("X-Event-Key", "repo:push"), `{"push":{}}`, "names no repository URL"},
		{"generic no repoURL", ProviderGeneric, headers(), `{"branch":"main"}`, "has no repoURL"},
		{"generic branch and tag", ProviderGeneric, headers(), `{"repoURL":"https://h/r","branch":"a","tag":"b"}`, "both a branch and a tag"},
		{"generic not json", ProviderGeneric, headers(), `repoURL=x`, "parse generic webhook body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := providerNamed(t, tc.provider).parse(tc.h, []byte(tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("parse: %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestSecretsFromData(t *testing.T) {
	got := SecretsFromData(map[string][]byte{
		"github": []byte("gh\n"), "gitlab": []byte(" gl "), "gitea": []byte("gt"),
		"bitbucket": []byte("bb"), "generic": []byte("tok"), "other": []byte("x"),
	})
	want := Secrets{GitHub: "gh", GitLab: "gl", Gitea: "gt", Bitbucket: "bb", Generic: "tok"}
	if got != want {
		t.Errorf("SecretsFromData = %+v, want %+v", got, want)
	}
	if got := SecretsFromData(nil); got != (Secrets{}) {
		t.Errorf("SecretsFromData(nil) = %+v, want no secrets", got)
	}
}

func providerNamed(t *testing.T, name string) provider {
	t.Helper()
	for _, p := range providers {
		if p.name == name {
			return p
		}
	}
	t.Fatalf("no provider %q", name)
	return provider{}
}
