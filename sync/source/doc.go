// Package source fetches a GitSync's config repository with go-git into a cache directory the
// controller owns, and resolves the target revision to a commit.
//
// # Cache layout
//
// Each Request.Key has one cache below Fetcher.CacheDir, in a directory named after the key (made
// safe, plus a hash of the key, so no key can reach outside CacheDir):
//
//	<CacheDir>/<key>/git    the repository (bare layout: HEAD, config, objects, refs, index)
//	<CacheDir>/<key>/tree   the work tree: Checkout.Dir, with no .git inside
//	<CacheDir>/.knownhosts/<key>   the known_hosts of an ssh fetch (0600)
//
// The first Fetch of a key clones everything (all branches and tags, full history, so short
// commits resolve); later ones fetch incrementally into the same repository and check the
// resolved commit out with force, then remove untracked files, so files deleted in Git are gone
// from the work tree. The cache records the URL it was cloned from (without credentials); when
// Request.RepoURL changes, the cache is cloned again.
//
// A fresh clone is made in a temporary directory next to the cache and swapped in only when the
// fetch succeeded, so a cache is never lost to a failed attempt: a network, authentication or
// timeout failure leaves it as it was. A cache that cannot be opened, or whose fetch or checkout
// fails for a reason that is not clearly the remote's (missing objects, garbage in the
// repository), is cloned again that way, with a log line.
//
// # Revisions
//
// Revision is resolved against the refs just fetched, in this order:
//
//   - "" or "HEAD": the remote's default branch (what its HEAD points at).
//   - "refs/heads/<b>" or "refs/tags/<t>": only that branch or tag.
//   - 40 hex digits: that commit (it must be reachable from a branch or tag).
//   - a branch name, then a tag name: a branch wins over a tag of the same name, as with
//     `git clone --branch` and `git checkout`; write "refs/tags/<t>" to mean the tag.
//     Annotated tags are peeled to their commit.
//   - 7 to 39 hex digits: the one commit whose hash starts with them; none or several is an
//     error that says so.
//
// # Transports and credentials
//
// Only https, http and ssh URLs (ssh://user@host:port/path or scp-like user@host:path) are
// accepted; file paths and git:// are refused, so a GitSync cannot read the controller's own
// disk. https uses a bearer token (Authorization: Bearer) when Credentials.BearerToken is set,
// else basic auth from Username and Password. ssh needs a private key and known_hosts lines and
// never skips the host key check. Errors name the operation and the URL, never credentials: user
// information is stripped from URLs and any credential value an error might echo is redacted.
//
// Each Fetch is bounded by Fetcher.Timeout (60s when zero), the ssh connection handshake
// included, which go-git alone does not bound.
package source
