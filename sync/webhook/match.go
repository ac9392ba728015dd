package webhook

import (
	"net/url"
	"strings"
)

// Event is one push a sender reported, as the receiver understood it.
type Event struct {
	// Provider is the sender: github, gitlab, gitea, bitbucket or generic.
	Provider string
	// RepoURLs are every URL of the repository the payload gives (clone over https, ssh, web
	// page); any of them may match a GitSync's repoURL.
	RepoURLs []string
	// Branch is the branch pushed to, without refs/heads/; empty for a tag push.
	Branch string
	// Tag is the tag pushed, without refs/tags/; empty for a branch push.
	Tag string
	// Commit is the commit the ref points at after the push, when the payload says.
	Commit string
	// DefaultBranch is the repository's default branch, when the payload says.
	DefaultBranch string
}

// NormalizeURL reduces the forms a Git repository URL takes to "host/path", so that forms of
// one repository compare equal:
//
//	https://github.com/Org/Repo.git    github.com/Org/Repo
//	http://user:pw@GitHub.com/Org/Repo/ github.com/Org/Repo
//	ssh://git@github.com:22/Org/Repo   github.com/Org/Repo
//	git@github.com:Org/Repo.git        github.com/Org/Repo   (scp-like form)
//	git://github.com/Org/Repo          github.com/Org/Repo
//
// The host is lowercased and the path's case kept (hosts differ on whether paths are case
// sensitive). User information is dropped. An ssh port is dropped (one host serves https and ssh
// on different ports, and payloads name both forms); an http, https or git port is kept unless it
// is the scheme's default, so two servers on one host are told apart.
// Leading and trailing slashes and one trailing ".git" are trimmed. Anything else is returned
// trimmed of spaces and slashes; an empty input gives "".
func NormalizeURL(raw string) string {
	s := strings.TrimSpace(raw)
	if s == "" {
		return ""
	}
	host, path := splitURL(s)
	path = strings.Trim(path, "/")
	path = strings.TrimSuffix(path, ".git")
	path = strings.TrimRight(path, "/")
	host = strings.ToLower(host)
	if host == "" {
		return path
	}
	if path == "" {
		return host
	}
	return host + "/" + path
}

// splitURL returns the host (without user information or port) and the path of a URL in one of
// the forms NormalizeURL takes.
func splitURL(s string) (host, path string) {
	if strings.Contains(s, "://") {
		if u, err := url.Parse(s); err == nil && u.Host != "" {
			host := u.Hostname()
			if p := u.Port(); p != "" && keepsPort(strings.ToLower(u.Scheme), p) {
				host += ":" + p
			}
			return host, u.Path
		}
		s = s[strings.Index(s, "://")+3:]
	}
	slash := strings.Index(s, "/")
	if colon := strings.Index(s, ":"); colon >= 0 && (slash < 0 || colon < slash) {
		// scp-like user@host:path; it has no port, so what follows the colon is all path
		return dropUser(s[:colon]), s[colon+1:]
	}
	if slash < 0 {
		return dropUser(s), ""
	}
	return dropUser(s[:slash]), s[slash:]
}

// keepsPort reports whether a URL's port tells its server apart: not for ssh, nor a default port.
func keepsPort(scheme, port string) bool {
	switch scheme {
	case "http":
		return port != "80"
	case "https":
		return port != "443"
	case "git":
		return port != "9418"
	}
	return false
}

func dropUser(hostPart string) string {
	if at := strings.LastIndex(hostPart, "@"); at >= 0 {
		return hostPart[at+1:]
	}
	return hostPart
}

// Matches reports whether a push is one a GitSync following repoURL at targetRevision should
// fetch for. The repository matches when any of ev.RepoURLs has the same NormalizeURL as
// repoURL. The revision then matches by this rule:
//
//   - "" or "HEAD": a push to ev.DefaultBranch, or to any branch when the payload does not
//     say which branch is the default (a spurious fetch is cheap and safe); never a tag push.
//   - "refs/heads/<b>": a push to branch b.
//   - "refs/tags/<t>": a push of tag t.
//   - any other name: a push to the branch or of the tag of that name (the fetcher resolves a
//     bare name as a branch first, then a tag).
//
// A revision that is a commit (7 to 40 hex digits) and is not also the name of the pushed
// branch or tag is pinned and never matches. An event that names neither a branch nor a tag
// (the generic endpoint's "something changed") matches every revision that does not look like
// a commit.
func Matches(repoURL, targetRevision string, ev Event) bool {
	if !sameRepository(repoURL, ev.RepoURLs) {
		return false
	}
	return revisionMatches(strings.TrimSpace(targetRevision), ev)
}

func sameRepository(repoURL string, eventURLs []string) bool {
	want := NormalizeURL(repoURL)
	if want == "" {
		return false
	}
	for _, u := range eventURLs {
		if NormalizeURL(u) == want {
			return true
		}
	}
	return false
}

func revisionMatches(rev string, ev Event) bool {
	if ev.Branch == "" && ev.Tag == "" {
		return !looksLikeCommit(rev)
	}
	switch {
	case rev == "" || rev == "HEAD":
		return ev.Branch != "" && (ev.DefaultBranch == "" || ev.Branch == ev.DefaultBranch)
	case strings.HasPrefix(rev, "refs/heads/"):
		return ev.Branch != "" && ev.Branch == strings.TrimPrefix(rev, "refs/heads/")
	case strings.HasPrefix(rev, "refs/tags/"):
		return ev.Tag != "" && ev.Tag == strings.TrimPrefix(rev, "refs/tags/")
	}
	// A pinned commit falls through here too: it equals no pushed name, so it never matches.
	return rev == ev.Branch || rev == ev.Tag
}

// looksLikeCommit reports whether a revision is 7 to 40 hex digits, the forms of a commit hash
// the fetcher accepts.
func looksLikeCommit(rev string) bool {
	if len(rev) < 7 || len(rev) > 40 {
		return false
	}
	for _, c := range rev {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}
