package webhook

import "testing"

func TestNormalizeURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://github.com/Acme/config.git", "github.com/Acme/config"},
		{"https://github.com/Acme/config", "github.com/Acme/config"},
		{"https://github.com/Acme/config/", "github.com/Acme/config"},
		{"https://github.com/Acme/config.git/", "github.com/Acme/config"},
		{"HTTPS://GitHub.COM/Acme/config", "github.com/Acme/config"},
		{"http://user:pass@github.com/Acme/config.git", "github.com/Acme/config"},
		{"https://git.example.com:8443/team/config.git", "git.example.com:8443/team/config"},
		{"https://git.example.com:443/team/config.git", "git.example.com/team/config"},
		{"http://127.0.0.1:8080/config", "127.0.0.1:8080/config"},
		{"http://127.0.0.1:80/config", "127.0.0.1/config"},
		{"ssh://git@github.com/Acme/config.git", "github.com/Acme/config"},
		{"ssh://git@Gitea.Example.com:2222/team/config.git", "gitea.example.com/team/config"},
		{"git@github.com:Acme/config.git", "github.com/Acme/config"},
		{"git@GITHUB.com:Acme/config", "github.com/Acme/config"},
		{"gitlab.example.com:group/sub/config.git", "gitlab.example.com/group/sub/config"},
		{"git://github.com/Acme/config.git", "github.com/Acme/config"},
		{"github.com/Acme/config.git", "github.com/Acme/config"},
		{"  https://github.com/Acme/config.git  ", "github.com/Acme/config"},
		{"https://github.com/Acme/config.github.io.git", "github.com/Acme/config.github.io"},
		{"https://github.com", "github.com"},
		{"", ""},
	} {
		if got := NormalizeURL(tc.in); got != tc.want {
			t.Errorf("NormalizeURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestNormalizedFormsOfOneRepositoryAreEqual(t *testing.T) {
	forms := []string{
		"https://github.com/Acme/config.git",
		"https://GitHub.com/Acme/config",
		"ssh://git@github.com:22/Acme/config.git",
		"git@github.com:Acme/config.git",
		"git://github.com/Acme/config",
	}
	want := NormalizeURL(forms[0])
	for _, f := range forms[1:] {
		if got := NormalizeURL(f); got != want {
			t.Errorf("NormalizeURL(%q) = %q, want %q as for %q", f, got, want, forms[0])
		}
	}
	if NormalizeURL("https://github.com/acme/config") == want {
		t.Errorf("the path's case must be kept")
	}
}

func TestMatches(t *testing.T) {
	const repo = "git@github.com:Acme/config.git"
	urls := []string{"https://github.com/Acme/config.git", "https://github.com/Acme/config"}
	branch := func(name, defaultBranch string) Event {
		return Event{Provider: ProviderGitHub, RepoURLs: urls, Branch: name, DefaultBranch: defaultBranch, Commit: "0d1a26e"}
	}
	tag := func(name string) Event {
		return Event{Provider: ProviderGitHub, RepoURLs: urls, Tag: name, DefaultBranch: "main"}
	}
	anyRef := Event{Provider: ProviderGeneric, RepoURLs: urls}
	for _, tc := range []struct {
		name     string
		repoURL  string
		revision string
		ev       Event
		want     bool
	}{
		{"empty revision follows the default branch", repo, "", branch("main", "main"), true},
		{"HEAD follows the default branch", repo, "HEAD", branch("main", "main"), true},
		{"HEAD ignores other branches", repo, "HEAD", branch("feature", "main"), false},
		{"HEAD matches any branch when the default is unknown", repo, "HEAD", branch("feature", ""), true},
		{"HEAD ignores tags", repo, "", tag("v1"), false},
		{"named branch", repo, "release", branch("release", "main"), true},
		{"named branch ignores other branches", repo, "release", branch("main", "main"), false},
		{"refs/heads form", repo, "refs/heads/release", branch("release", "main"), true},
		{"refs/heads form ignores a tag of that name", repo, "refs/heads/v1", tag("v1"), false},
		{"tag name", repo, "v1", tag("v1"), true},
		{"refs/tags form", repo, "refs/tags/v1", tag("v1"), true},
		{"refs/tags form ignores a branch of that name", repo, "refs/tags/v1", branch("v1", "main"), false},
		{"other tag", repo, "v1", tag("v2"), false},
		{"pinned full commit", repo, "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c", branch("main", "main"), false},
		{"pinned short commit", repo, "0d1a26e", branch("main", "main"), false},
		{"hex branch name that was pushed", repo, "deadbeef", branch("deadbeef", "main"), true},
		{"revision with spaces", repo, " main ", branch("main", "main"), true},
		{"other repository", "https://github.com/Acme/other.git", "", branch("main", "main"), false},
		{"other host", "https://gitlab.com/Acme/config.git", "", branch("main", "main"), false},
		{"empty repoURL", "", "", branch("main", "main"), false},
		{"any ref matches a branch", repo, "release", anyRef, true},
		{"any ref matches HEAD", repo, "", anyRef, true},
		{"any ref never matches a pinned commit", repo, "0d1a26e", anyRef, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Matches(tc.repoURL, tc.revision, tc.ev); got != tc.want {
				t.Errorf("Matches(%q, %q, %+v) = %v, want %v", tc.repoURL, tc.revision, tc.ev, got, tc.want)
			}
		})
	}
}
