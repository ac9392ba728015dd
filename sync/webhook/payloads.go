package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// githubPush is the part of a GitHub push payload the receiver reads; Gitea's is the same shape.
type githubPush struct {
	Ref        string `json:"ref"`
	After      string `json:"after"`
	Deleted    bool   `json:"deleted"`
	Repository struct {
		CloneURL      string `json:"clone_url"`
		SSHURL        string `json:"ssh_url"`
		HTMLURL       string `json:"html_url"`
		GitURL        string `json:"git_url"`
		DefaultBranch string `json:"default_branch"`
	} `json:"repository"`
}

func parseGitHub(h http.Header, body []byte) (parsed, error) {
	return parseGitHubLike(ProviderGitHub, h.Get("X-GitHub-Event"), h, body)
}

func parseGitea(h http.Header, body []byte) (parsed, error) {
	return parseGitHubLike(ProviderGitea, h.Get("X-Gitea-Event"), h, body)
}

func parseGitHubLike(name, event string, h http.Header, body []byte) (parsed, error) {
	event = strings.TrimSpace(event)
	if event != "push" {
		return parsed{ignored: fmt.Sprintf("ignored %s event %q", name, event)}, nil
	}
	payload, err := formPayload(h, body)
	if err != nil {
		return parsed{}, fmt.Errorf("read %s push payload: %w", name, err)
	}
	var push githubPush
	if err := json.Unmarshal(payload, &push); err != nil {
		return parsed{}, fmt.Errorf("parse %s push payload: %w", name, err)
	}
	repo := push.Repository
	if push.Deleted {
		return parsed{ignored: "ignored deletion of " + push.Ref}, nil
	}
	return refPush(name, push.Ref, push.After, repo.DefaultBranch,
		repo.CloneURL, repo.SSHURL, repo.HTMLURL, repo.GitURL)
}

// formPayload returns the JSON of a body that may also be form-encoded as payload=<json>, as
// GitHub and Gitea send when so configured.
func formPayload(h http.Header, body []byte) ([]byte, error) {
	mediaType, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	if mediaType != "application/x-www-form-urlencoded" {
		return body, nil
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("decode form: %w", err)
	}
	if !form.Has("payload") {
		return nil, errors.New("form has no payload field")
	}
	return []byte(form.Get("payload")), nil
}

// gitlabPush is the part of a GitLab push or tag push payload the receiver reads.
type gitlabPush struct {
	ObjectKind  string `json:"object_kind"`
	Ref         string `json:"ref"`
	After       string `json:"after"`
	CheckoutSHA string `json:"checkout_sha"`
	Project     struct {
		GitHTTPURL    string `json:"git_http_url"`
		GitSSHURL     string `json:"git_ssh_url"`
		WebURL        string `json:"web_url"`
		DefaultBranch string `json:"default_branch"`
	} `json:"project"`
	Repository struct {
		GitHTTPURL string `json:"git_http_url"`
		GitSSHURL  string `json:"git_ssh_url"`
		Homepage   string `json:"homepage"`
	} `json:"repository"`
}

func parseGitLab(h http.Header, body []byte) (parsed, error) {
	event := strings.TrimSpace(h.Get("X-Gitlab-Event"))
	switch event {
	case "Push Hook", "Tag Push Hook", "System Hook":
	default:
		return parsed{ignored: fmt.Sprintf("ignored gitlab event %q", event)}, nil
	}
	var push gitlabPush
	if err := json.Unmarshal(body, &push); err != nil {
		return parsed{}, fmt.Errorf("parse gitlab %s payload: %w", strings.ToLower(event), err)
	}
	if push.ObjectKind != "push" && push.ObjectKind != "tag_push" {
		// a system hook for something else, such as a merge request
		return parsed{ignored: fmt.Sprintf("ignored gitlab %s of kind %q", strings.ToLower(event), push.ObjectKind)}, nil
	}
	commit := push.CheckoutSHA
	if commit == "" {
		commit = push.After
	}
	p, r := push.Project, push.Repository
	return refPush(ProviderGitLab, push.Ref, commit, p.DefaultBranch,
		p.GitHTTPURL, p.GitSSHURL, p.WebURL, r.GitHTTPURL, r.GitSSHURL, r.Homepage)
}

// bitbucketPush is the part of a Bitbucket Cloud repo:push payload the receiver reads.
type bitbucketPush struct {
	Push struct {
		Changes []struct {
			// New is the ref after the push; null when the push deleted it.
			New *struct {
				Type   string `json:"type"`
				Name   string `json:"name"`
				Target struct {
					Hash string `json:"hash"`
				} `json:"target"`
			} `json:"new"`
		} `json:"changes"`
	} `json:"push"`
	Repository struct {
		FullName string `json:"full_name"`
		Links    struct {
			HTML struct {
				Href string `json:"href"`
			} `json:"html"`
		} `json:"links"`
		MainBranch *struct {
			Name string `json:"name"`
		} `json:"mainbranch"`
	} `json:"repository"`
}

// parseBitbucket returns one event per branch or tag a Bitbucket Cloud push changed.
func parseBitbucket(h http.Header, body []byte) (parsed, error) {
	if event := strings.TrimSpace(h.Get("X-Event-Key")); event != "repo:push" {
		return parsed{ignored: fmt.Sprintf("ignored bitbucket event %q", event)}, nil
	}
	var push bitbucketPush
	if err := json.Unmarshal(body, &push); err != nil {
		return parsed{}, fmt.Errorf("parse bitbucket push payload: %w", err)
	}
	repo := push.Repository
	urls := nonEmpty(repo.Links.HTML.Href)
	if len(urls) == 0 && repo.FullName != "" {
		urls = []string{"https://bitbucket.org/" + repo.FullName}
	}
	if len(urls) == 0 {
		return parsed{}, errors.New("bitbucket push payload names no repository URL")
	}
	var defaultBranch string
	if repo.MainBranch != nil {
		defaultBranch = repo.MainBranch.Name
	}
	var out parsed
	for _, change := range push.Push.Changes {
		ref := change.New
		if ref == nil || ref.Name == "" {
			continue // a deleted branch or tag
		}
		ev := Event{Provider: ProviderBitbucket, RepoURLs: urls, Commit: ref.Target.Hash, DefaultBranch: defaultBranch}
		switch ref.Type {
		case "branch", "named_branch":
			ev.Branch = ref.Name
		case "tag":
			ev.Tag = ref.Name
		default:
			continue
		}
		out.events = append(out.events, ev)
	}
	if len(out.events) == 0 {
		out.ignored = "ignored bitbucket push that changed no branch or tag"
	}
	return out, nil
}

// genericPush is the body of the generic endpoint.
type genericPush struct {
	RepoURL  string `json:"repoURL"`
	Branch   string `json:"branch"`
	Tag      string `json:"tag"`
	Revision string `json:"revision"`
}

func parseGeneric(_ http.Header, body []byte) (parsed, error) {
	var push genericPush
	if err := json.Unmarshal(body, &push); err != nil {
		return parsed{}, fmt.Errorf("parse generic webhook body: %w", err)
	}
	repoURL := strings.TrimSpace(push.RepoURL)
	if repoURL == "" {
		return parsed{}, errors.New("generic webhook body has no repoURL")
	}
	branch := strings.TrimPrefix(strings.TrimSpace(push.Branch), "refs/heads/")
	tag := strings.TrimPrefix(strings.TrimSpace(push.Tag), "refs/tags/")
	if branch != "" && tag != "" {
		return parsed{}, errors.New("generic webhook body names both a branch and a tag")
	}
	ev := Event{
		Provider: ProviderGeneric,
		RepoURLs: []string{repoURL},
		Branch:   branch,
		Tag:      tag,
		Commit:   strings.TrimSpace(push.Revision),
	}
	return parsed{events: []Event{ev}}, nil
}

// refPush builds the event of a push of one ref: a branch or a tag, ignored when the push
// deleted the ref (the commit after it is all zeros) or the ref is neither.
func refPush(name, ref, commit, defaultBranch string, urls ...string) (parsed, error) {
	repoURLs := nonEmpty(urls...)
	if len(repoURLs) == 0 {
		return parsed{}, fmt.Errorf("%s push payload names no repository URL", name)
	}
	ev := Event{Provider: name, RepoURLs: repoURLs, Commit: commit, DefaultBranch: defaultBranch}
	if branch, ok := strings.CutPrefix(ref, "refs/heads/"); ok {
		ev.Branch = branch
	} else if tag, ok := strings.CutPrefix(ref, "refs/tags/"); ok {
		ev.Tag = tag
	}
	switch {
	case ev.Branch == "" && ev.Tag == "":
		return parsed{ignored: fmt.Sprintf("ignored %s push of ref %q, neither a branch nor a tag", name, ref)}, nil
	case isZeroCommit(commit):
		return parsed{ignored: "ignored deletion of " + ref}, nil
	}
	return parsed{events: []Event{ev}}, nil
}

// isZeroCommit reports whether a commit is the all-zeros hash senders give for a deleted ref.
func isZeroCommit(commit string) bool {
	return commit != "" && strings.Trim(commit, "0") == ""
}

// nonEmpty returns the values that are not blank, trimmed, without repeats.
func nonEmpty(values ...string) []string {
	var out []string
	seen := map[string]bool{}
	for _, v := range values {
		v = strings.TrimSpace(v)
		if v == "" || seen[v] {
			continue
		}
		seen[v] = true
		out = append(out, v)
	}
	return out
}
