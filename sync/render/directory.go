package render

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// renderDirectory reads every manifest under dir (and its sub-directories when recurse is set)
// in path order, documents in file order.
func renderDirectory(ctx context.Context, repo *checkout, dir string, recurse bool) ([]*unstructured.Unstructured, error) {
	files, err := listManifests(repo, dir, recurse)
	if err != nil {
		return nil, err
	}
	var objs []*unstructured.Unstructured
	for _, name := range files {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("render directory %q: %w", dir, err)
		}
		data, err := fs.ReadFile(repo.fsys, name)
		if err != nil {
			return nil, &Error{File: name, Err: fmt.Errorf("read manifest: %w", err)}
		}
		fileObjs, err := decodeManifests(name, data)
		if err != nil {
			return nil, err
		}
		objs = append(objs, fileObjs...)
	}
	return objs, nil
}

// listManifests returns the manifest files under dir sorted by path. Hidden entries are skipped
// (so .git is never read), and so are kustomization files: they configure a Kustomize build and
// are not objects to apply, even when a GitSync asks for a plain Directory render.
func listManifests(repo *checkout, dir string, recurse bool) ([]string, error) {
	var files []string
	err := fs.WalkDir(repo.fsys, dir, func(name string, entry fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if name == dir {
			return nil
		}
		if isHidden(entry.Name()) || (entry.IsDir() && !recurse) {
			return skipEntry(entry)
		}
		if entry.IsDir() || !isManifestName(entry.Name()) {
			return nil
		}
		if repo.isReadableFile(name, entry) {
			files = append(files, name)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list manifests under %q: %w", dir, err)
	}
	slices.Sort(files)
	return files, nil
}

// skipEntry skips a directory's whole tree, or just the one file.
func skipEntry(entry fs.DirEntry) error {
	if entry.IsDir() {
		return fs.SkipDir
	}
	return nil
}

// isManifestName says whether a file name is a YAML or JSON manifest.
func isManifestName(name string) bool {
	if name == "kustomization.yaml" || name == "kustomization.yml" {
		return false
	}
	switch strings.ToLower(path.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}
