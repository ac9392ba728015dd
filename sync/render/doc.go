// Package render turns the files at a path of a checked-out Git repository into Kubernetes
// objects: a plain directory of manifests, or a Kustomize build (sigs.k8s.io/kustomize/api/krusty).
// It does file I/O only: no client, no network.
//
// # What is read
//
// Hidden files and directories (a name starting with "."), among them .git, are never read, and
// Options.Path may not name one or leave the repository root. A symlink is read only when it
// resolves to a regular file inside the repository and outside hidden directories; links that
// leave the repository or lead into .git, dangling links and links to directories are skipped,
// so there are no cycles and nothing outside the checkout is read. Every read goes through an
// os.Root, which refuses to leave the checkout whatever a link says.
//
// # Directory
//
// Every *.yaml, *.yml and *.json file under the path (sub-directories only with Recurse), sorted
// by path, documents in file order. Empty documents and documents holding only comments are
// skipped; a v1 List is expanded into its items (one level). Files named kustomization.yaml or
// kustomization.yml are skipped even in Directory mode: they configure a build and are not
// objects. Under Auto, a path holding a kustomization file is rendered with Kustomize instead.
//
// # Kustomize
//
// The repository's files (same rules as above) are copied into an in-memory file system and the
// build runs there with the load restrictor on and only the built-in plugins (no exec, container
// or function plugins, no helm). Kustomize would clone remote bases with git and fetch remote
// files over HTTP; krusty cannot switch that off, so before building, every kustomization the
// build reaches is scanned and any remote reference (a URL, git@host:..., github.com/...),
// absolute path or path leading out of the repository is refused, naming the file and line. The
// in-memory copy is the second guard: nothing outside the repository exists in it. Builds run
// one at a time because Kustomize keeps its OpenAPI schema in a process-wide global. Objects come
// out in Kustomize's input order (krusty's default), not resorted by kind.
//
// Errors about a file are *Error values naming the file (a slash path relative to the
// repository root) and, when known, the line.
package render
