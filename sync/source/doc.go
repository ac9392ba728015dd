// Package source fetches a GitSync's config repository with go-git into a cache directory the
// controller owns, and resolves the target revision to a commit.
package source

import (
	_ "github.com/go-git/go-git/v5"
	_ "golang.org/x/crypto/ssh"
)
