// Package render turns the files at a GitSync's path into objects: a plain directory of
// manifests, or a Kustomize build.
package render

import (
	_ "sigs.k8s.io/kustomize/api/krusty"
	_ "sigs.k8s.io/kustomize/kyaml/filesys"
)
