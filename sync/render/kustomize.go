package render

import (
	"context"
	"fmt"
	"io/fs"
	"path"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// buildSlot lets one Kustomize build run at a time. Kustomize keeps the OpenAPI schema it merges
// patches with in a process-wide global that every build resets (and a kustomization's
// `openapi:` field replaces), so two builds at once could merge with each other's schema.
var buildSlot = make(chan struct{}, 1)

// renderKustomize builds the kustomization in dir from an in-memory copy of the repository.
func renderKustomize(ctx context.Context, repo *checkout, dir string) ([]*unstructured.Unstructured, error) {
	mem, err := copyRepository(ctx, repo)
	if err != nil {
		return nil, err
	}
	if err := checkKustomization(mem, dir); err != nil {
		return nil, err
	}
	resMap, err := build(ctx, mem, dir)
	if err != nil {
		return nil, err
	}
	return toUnstructured(dir, resMap)
}

// copyRepository copies the repository's files into an in-memory file system, at the same paths
// under "/". Hidden entries (.git among them) are left out, and so are symlinks other than those
// to a regular file inside the repository (isReadableFile): directory symlinks are not followed.
// Kustomize then cannot read anything the repository does not hold, whatever its kustomizations
// name.
func copyRepository(ctx context.Context, repo *checkout) (filesys.FileSystem, error) {
	mem := filesys.MakeFsInMemory()
	err := fs.WalkDir(repo.fsys, ".", func(name string, entry fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if name == "." {
			return nil
		}
		if isHidden(entry.Name()) {
			return skipEntry(entry)
		}
		if entry.IsDir() || !repo.isReadableFile(name, entry) {
			return nil
		}
		data, err := fs.ReadFile(repo.fsys, name)
		if err != nil {
			return err
		}
		return mem.WriteFile(memPath(name), data)
	})
	if err != nil {
		return nil, fmt.Errorf("copy repository into memory for kustomize: %w", err)
	}
	return mem, nil
}

// build runs Kustomize on dir with the load restrictor on (files must sit under the
// kustomization that names them) and only the built-in, statically linked plugins: no exec,
// container or function plugins and no helm.
func build(ctx context.Context, mem filesys.FileSystem, dir string) (resmap.ResMap, error) {
	select {
	case buildSlot <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("wait to build kustomization %q: %w", dir, ctx.Err())
	}
	defer func() { <-buildSlot }()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("build kustomization %q: %w", dir, err)
	}

	opts := krusty.MakeDefaultOptions()
	opts.LoadRestrictions = types.LoadRestrictionsRootOnly
	opts.PluginConfig = types.DisabledPluginConfig()
	resMap, err := krusty.MakeKustomizer(opts).Run(mem, memPath(dir))
	if err != nil {
		return nil, fmt.Errorf("build kustomization %q: %w", dir, err)
	}
	return resMap, nil
}

// toUnstructured converts the build output, in Kustomize's output order.
func toUnstructured(dir string, resMap resmap.ResMap) ([]*unstructured.Unstructured, error) {
	resources := resMap.Resources()
	objs := make([]*unstructured.Unstructured, 0, len(resources))
	for i, res := range resources {
		data, err := res.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("convert object %d of kustomization %q: %w", i+1, dir, err)
		}
		var fields map[string]interface{}
		if err := utiljson.Unmarshal(data, &fields); err != nil {
			return nil, fmt.Errorf("convert object %d of kustomization %q: %w", i+1, dir, err)
		}
		u := &unstructured.Unstructured{Object: fields}
		if err := validateObject(u); err != nil {
			return nil, fmt.Errorf("check object %d of kustomization %q: %w", i+1, dir, err)
		}
		objs = append(objs, u)
	}
	return objs, nil
}

// memPath is the in-memory file system path of a repository path.
func memPath(name string) string {
	return path.Join("/", name)
}
