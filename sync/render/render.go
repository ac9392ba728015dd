package render

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/konfig"

	"github.com/sluice-dev/sluice/api/sluice/v1alpha1"
)

// Options says which files of the repository to render and how.
type Options struct {
	// Path is a slash-separated path inside the repository root; "" or "." is the root. It must
	// not leave the root ("../x" is an error) nor name a hidden file or directory.
	Path string
	// Type is Auto, Directory or Kustomize; "" means Auto.
	Type v1alpha1.RenderType
	// Recurse makes Directory rendering read sub-directories too.
	Recurse bool
}

// Error is a render error that names the file (a slash path relative to the repository root)
// and, when known, the 1-based line.
type Error struct {
	File string
	Line int
	Err  error
}

// Error reads `apps/web/deploy.yaml line 7: <cause>`, or `apps/web/deploy.yaml: <cause>` when
// the line is not known.
func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s line %d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Render renders opts.Path of the repository checked out at root, an OS directory. Hidden
// entries, among them the .git directory, are never read. An empty render is an empty slice and
// a nil error: what an empty render means is the caller's decision.
func Render(ctx context.Context, root string, opts Options) ([]*unstructured.Unstructured, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("render %q: %w", opts.Path, err)
	}
	dir, err := cleanPath(opts.Path)
	if err != nil {
		return nil, err
	}
	repo, err := openCheckout(root)
	if err != nil {
		return nil, err
	}
	defer repo.close()

	if err := repo.checkDir(dir); err != nil {
		return nil, err
	}
	renderType, err := chooseType(repo.fsys, dir, opts.Type)
	if err != nil {
		return nil, err
	}
	var objs []*unstructured.Unstructured
	if renderType == v1alpha1.RenderKustomize {
		objs, err = renderKustomize(ctx, repo, dir)
	} else {
		objs, err = renderDirectory(ctx, repo, dir, opts.Recurse)
	}
	if err != nil {
		return nil, err
	}
	if objs == nil {
		objs = []*unstructured.Unstructured{}
	}
	return objs, nil
}

// cleanPath turns Options.Path into a clean fs.FS path ("." for the root).
func cleanPath(p string) (string, error) {
	if p == "" {
		return ".", nil
	}
	if path.IsAbs(p) || strings.Contains(p, `\`) {
		return "", fmt.Errorf("path %q must be a slash-separated path relative to the repository root", p)
	}
	clean := path.Clean(p)
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("path %q leaves the repository", p)
	}
	if clean == "." {
		return clean, nil
	}
	for _, part := range strings.Split(clean, "/") {
		if isHidden(part) {
			return "", fmt.Errorf("path %q names a hidden file or directory, which sluice never reads", p)
		}
	}
	return clean, nil
}

// checkout is a repository checkout opened for reading. Every read goes through an os.Root,
// which refuses paths and symlinks that leave the checkout; dir, the checkout's directory with
// symlinks resolved, is only used to tell where a symlink leads.
type checkout struct {
	root *os.Root
	fsys fs.FS
	dir  string
}

func openCheckout(dir string) (*checkout, error) {
	resolved, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, fmt.Errorf("open repository checkout %s: %w", dir, err)
	}
	root, err := os.OpenRoot(resolved)
	if err != nil {
		return nil, fmt.Errorf("open repository checkout %s: %w", dir, err)
	}
	return &checkout{root: root, fsys: root.FS(), dir: resolved}, nil
}

func (c *checkout) close() { _ = c.root.Close() }

// checkDir says whether dir exists in the repository and is a directory.
func (c *checkout) checkDir(dir string) error {
	info, err := fs.Stat(c.fsys, dir)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("path %q does not exist in the repository", dir)
	}
	if err != nil {
		return fmt.Errorf("look up path %q in the repository: %w", dir, err)
	}
	if !info.IsDir() {
		return fmt.Errorf("path %q in the repository is not a directory", dir)
	}
	if !c.leadsToVisible(dir) {
		return fmt.Errorf("path %q leads through a symlink to a hidden or outside directory", dir)
	}
	return nil
}

// isReadableFile says whether a walked entry is a file to read. A symlink counts when it
// resolves to a regular file inside the repository and not under a hidden directory such as
// .git; links that leave the repository, dangling links and links to directories do not.
func (c *checkout) isReadableFile(name string, entry fs.DirEntry) bool {
	if entry.Type().IsRegular() {
		return true
	}
	if entry.Type()&fs.ModeSymlink == 0 || !c.leadsToVisible(name) {
		return false
	}
	info, err := fs.Stat(c.fsys, name)
	return err == nil && info.Mode().IsRegular()
}

// leadsToVisible says whether name, with symlinks resolved, stays inside the checkout and out
// of hidden directories.
func (c *checkout) leadsToVisible(name string) bool {
	resolved, err := filepath.EvalSymlinks(filepath.Join(c.dir, filepath.FromSlash(name)))
	if err != nil {
		return false
	}
	rel, err := filepath.Rel(c.dir, resolved)
	if err != nil {
		return false
	}
	rel = filepath.ToSlash(rel)
	if rel == ".." || strings.HasPrefix(rel, "../") {
		return false
	}
	for _, part := range strings.Split(rel, "/") {
		if isHidden(part) {
			return false
		}
	}
	return true
}

// chooseType resolves Auto: Kustomize when dir holds a kustomization file, else Directory.
func chooseType(fsys fs.FS, dir string, t v1alpha1.RenderType) (v1alpha1.RenderType, error) {
	switch t {
	case v1alpha1.RenderDirectory, v1alpha1.RenderKustomize:
		return t, nil
	case "", v1alpha1.RenderAuto:
		if len(kustomizationFiles(fsys, dir)) > 0 {
			return v1alpha1.RenderKustomize, nil
		}
		return v1alpha1.RenderDirectory, nil
	default:
		return "", fmt.Errorf("unknown render type %q (want %s, %s or %s)",
			t, v1alpha1.RenderAuto, v1alpha1.RenderDirectory, v1alpha1.RenderKustomize)
	}
}

// kustomizationFiles lists the kustomization files Kustomize would recognise in dir.
func kustomizationFiles(fsys fs.FS, dir string) []string {
	var found []string
	for _, name := range konfig.RecognizedKustomizationFileNames() {
		info, err := fs.Stat(fsys, path.Join(dir, name))
		if err == nil && info.Mode().IsRegular() {
			found = append(found, path.Join(dir, name))
		}
	}
	return found
}

// isHidden says whether a file or directory name is hidden (".git", ".github", ".env").
func isHidden(name string) bool {
	return strings.HasPrefix(name, ".") && name != "." && name != ".."
}
