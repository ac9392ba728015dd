// Package webhook receives push notifications from Git hosts and turns them into immediate
// GitSync refreshes, so a push does not wait for the next poll.
//
// The receiver only authenticates, parses and matches: it never fetches anything itself. The
// controller supplies a Trigger that finds the GitSyncs an Event concerns (with Matches) and
// enqueues them; the usual fetch then runs in the reconciler.
//
// # Senders
//
// Every request goes to one handler, on any path; the sender is told apart by its headers, in
// this order (Gitea and Forgejo also send GitHub's headers, so they are looked at first):
//
//	provider   detected by                      authenticated by                          events
//	gitea      X-Gitea-Event                    X-Gitea-Signature: <hex HMAC-SHA256>       push
//	github     X-GitHub-Event                   X-Hub-Signature-256: sha256=<hex HMAC>     push (ping is ignored)
//	gitlab     X-Gitlab-Event                   X-Gitlab-Token: <token>                    Push Hook, Tag Push Hook, System Hook
//	bitbucket  X-Event-Key (Bitbucket Cloud)    X-Hub-Signature: sha256=<hex HMAC>         repo:push
//	generic    Authorization: Bearer <token>    the bearer token                           any POST
//
// The HMACs are of the raw request body, keyed with the provider's secret; tokens and signatures
// are compared in constant time. GitHub and Gitea payloads may be JSON or form-encoded
// (payload=<json>). The generic endpoint takes a JSON body
//
//	{"repoURL": "https://git.example.com/team/config.git", "branch": "main", "tag": "", "revision": ""}
//
// where repoURL is required and branch and tag (at most one of them) say what was pushed; with
// neither, every GitSync following the repository that is not pinned to a commit is triggered.
//
// # Secrets
//
// The secrets come from one Kubernetes Secret (see SecretsFromData), read on every request
// through Receiver.Secrets, so a rotated secret takes effect without a restart. A provider whose
// secret is empty is refused with 401: an unsigned push is never accepted, and a provider is
// enabled only by configuring its secret.
//
// # Outcomes
//
// Every request ends in one outcome, returned with a short plain-text body and counted in
// sluice_gitsync_webhook_requests_total{provider, outcome} (provider is one of the names above,
// or unknown when the headers name none):
//
//	triggered           200  one or more GitSyncs were triggered
//	no_match            200  a valid push that no GitSync follows
//	ignored             200  an event that triggers nothing: ping, another event type, a deleted
//	                         branch or tag, a ref that is neither a branch nor a tag
//	unauthorized        401  missing or wrong signature or token, no secret configured for the
//	                         provider, or headers that name no provider and carry no bearer token
//	too_large           413  a body over MaxBodyBytes (1 MiB)
//	bad_request         400  a payload that cannot be read or names no repository
//	method_not_allowed  405  anything but POST
//	error               500  looking up the secrets or triggering failed; the sender may retry
//
// The signature is checked before the event type is looked at, so an unauthenticated request
// never gets a 200.
package webhook
