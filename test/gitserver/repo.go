package gitserver

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// Repo is a bare repository under a server's directory plus a private work tree that commits are
// made in and pushed from, with the git command line.
type Repo struct {
	bare, work, home string
	mu               sync.Mutex
}

// NewRepo creates the bare repository dir/name.git (served) and its work tree (not served).
func NewRepo(dir, name string) (*Repo, error) {
	r := &Repo{bare: bareDir(dir, name), work: filepath.Join(dir, ".work", name), home: filepath.Join(dir, ".home")}
	for _, d := range []string{r.work, r.home} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("create %s: %w", d, err)
		}
	}
	if _, err := r.git(dir, "init", "--bare", "-b", "main", r.bare); err != nil {
		return nil, err
	}
	if _, err := r.git(r.work, "init", "-b", "main"); err != nil {
		return nil, err
	}
	if _, err := r.git(r.work, "remote", "add", "origin", r.bare); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Repo) git(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", append([]string{"-c", "user.name=sluice test", "-c", "user.email=test@sluice.dev", "-c", "commit.gpgsign=false"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+r.home, "GIT_TERMINAL_PROMPT=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// WriteFiles writes files (slash paths relative to the work tree) without committing.
func (r *Repo) WriteFiles(files map[string]string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for p, content := range files {
		full := filepath.Join(r.work, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
	}
	return nil
}

// Remove deletes paths from the work tree without committing.
func (r *Repo) Remove(paths ...string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range paths {
		if err := os.RemoveAll(filepath.Join(r.work, filepath.FromSlash(p))); err != nil {
			return fmt.Errorf("remove %s: %w", p, err)
		}
	}
	return nil
}

// Commit commits everything in the work tree and pushes it to main; it returns the commit.
func (r *Repo) Commit(msg string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.git(r.work, "add", "-A"); err != nil {
		return "", err
	}
	if _, err := r.git(r.work, "commit", "--allow-empty", "-q", "-m", msg); err != nil {
		return "", err
	}
	return r.push()
}

func (r *Repo) push() (string, error) {
	branch, err := r.git(r.work, "rev-parse", "--abbrev-ref", "HEAD")
	if err != nil {
		return "", err
	}
	if _, err := r.git(r.work, "push", "-q", "--force", "origin", branch); err != nil {
		return "", err
	}
	return r.git(r.work, "rev-parse", "HEAD")
}

// Tag tags HEAD (annotated when msg is not empty) and pushes the tag.
func (r *Repo) Tag(name, msg string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	args := []string{"tag", name}
	if msg != "" {
		args = []string{"tag", "-a", name, "-m", msg}
	}
	if _, err := r.git(r.work, args...); err != nil {
		return err
	}
	_, err := r.git(r.work, "push", "-q", "origin", name)
	return err
}

// Branch creates a branch at HEAD, switches the work tree to it and pushes it.
func (r *Repo) Branch(name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.git(r.work, "checkout", "-q", "-b", name); err != nil {
		return err
	}
	_, err := r.push()
	return err
}

// Checkout switches the work tree to an existing branch.
func (r *Repo) Checkout(branch string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, err := r.git(r.work, "checkout", "-q", branch)
	return err
}

// Revert reverts a commit on the current branch and pushes; it returns the new commit.
func (r *Repo) Revert(sha string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.git(r.work, "revert", "--no-edit", sha); err != nil {
		return "", err
	}
	return r.push()
}

// Head is the work tree's current commit.
func (r *Repo) Head() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out, _ := r.git(r.work, "rev-parse", "HEAD")
	return out
}
