package webhook

import "strings"

// Keys of the webhook Secret's data, one per provider.
const (
	SecretKeyGitHub    = "github"
	SecretKeyGitLab    = "gitlab"
	SecretKeyGitea     = "gitea"
	SecretKeyBitbucket = "bitbucket"
	SecretKeyGeneric   = "generic"
)

// Secrets are the shared secrets of the senders. A provider whose secret is empty is refused
// with 401, so that an unsigned push is never accepted: configuring a provider's secret is what
// enables it.
type Secrets struct {
	// GitHub keys the HMAC of X-Hub-Signature-256.
	GitHub string
	// GitLab is the token GitLab sends in X-Gitlab-Token.
	GitLab string
	// Gitea keys the HMAC of X-Gitea-Signature.
	Gitea string
	// Bitbucket keys the HMAC of Bitbucket Cloud's X-Hub-Signature.
	Bitbucket string
	// Generic is the bearer token of the generic endpoint.
	Generic string
}

// SecretsFromData reads Secrets from the data of a Kubernetes Secret, under the keys github,
// gitlab, gitea, bitbucket and generic; a missing key leaves that provider disabled. Leading
// and trailing white space is trimmed, since a secret made from a file usually ends in a
// newline the sender's copy does not have.
func SecretsFromData(data map[string][]byte) Secrets {
	get := func(key string) string { return strings.TrimSpace(string(data[key])) }
	return Secrets{
		GitHub:    get(SecretKeyGitHub),
		GitLab:    get(SecretKeyGitLab),
		Gitea:     get(SecretKeyGitea),
		Bitbucket: get(SecretKeyBitbucket),
		Generic:   get(SecretKeyGeneric),
	}
}
