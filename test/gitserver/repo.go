package gitserver

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// commitEpoch is the author and committer date of a Repo's first commit; each later commit,
// revert or annotated tag is one minute later, so a test's history has the same hashes every run.
var commitEpoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// Repo is a bare repository a Server can serve, plus a private work tree that turns file edits
// into commits pushed to it. Its methods are safe for concurrent use; each runs the git CLI.
type Repo struct {
	name string
	bare string
	work string
	home string

	mu    sync.Mutex
	ticks int // commits, reverts and annotated tags made so far: the deterministic clock
}

// NewRepo creates the bare repository dir/name.git, whose default branch is main, and a work tree
// for it below dir/.gitserver-work (a plain repository, not meant to be cloned).
func NewRepo(dir, name string) (*Repo, error) {
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolve repository root %s: %w", dir, err)
	}
	name = strings.TrimSuffix(strings.Trim(name, "/"), ".git")
	if name == "" || strings.Contains(name, "..") {
		return nil, fmt.Errorf("invalid repository name %q", name)
	}
	private := filepath.Join(root, ".gitserver-work", name)
	r := &Repo{
		name: name,
		bare: filepath.Join(root, name+".git"),
		work: filepath.Join(private, "tree"),
		home: filepath.Join(private, "home"),
	}
	for _, d := range []string{r.home, r.work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("create %s: %w", d, err)
		}
	}
	steps := [][]string{
		{"init", "--quiet", "--bare", r.bare},
		{"-C", r.work, "init", "--quiet"},
		{"-C", r.work, "remote", "add", "origin", r.bare},
	}
	for _, args := range steps {
		if _, err := r.git(args...); err != nil {
			return nil, fmt.Errorf("create repository %s: %w", name, err)
		}
	}
	return r, nil
}

// Name is the repository's name, the argument of Server.URL and SSHServer.URL.
func (r *Repo) Name() string { return r.name }

// WorkTree is the directory of the work tree whose files the next Commit records (read it to
// edit a file in place; write through WriteFiles).
func (r *Repo) WorkTree() string { return r.work }

// Path is the bare repository's directory.
func (r *Repo) Path() string { return r.bare }

// WriteFiles writes files (path relative to the repository root → content) into the work tree,
// creating directories as needed. Nothing is committed until Commit.
func (r *Repo) WriteFiles(files map[string]string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		full, err := r.inTree(p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return fmt.Errorf("create directory for %s: %w", p, err)
		}
		if err := os.WriteFile(full, []byte(files[p]), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
	}
	return nil
}

// Remove deletes files or directories from the work tree. Nothing is committed until Commit.
func (r *Repo) Remove(paths ...string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range paths {
		full, err := r.inTree(p)
		if err != nil {
			return err
		}
		if err := os.RemoveAll(full); err != nil {
			return fmt.Errorf("remove %s: %w", p, err)
		}
	}
	return nil
}

// Commit commits every change of the work tree (an empty commit when there is none) and pushes
// the current branch (main unless Checkout chose another). It returns the new commit's hash.
func (r *Repo) Commit(msg string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.inWork("add", "--all"); err != nil {
		return "", fmt.Errorf("stage changes: %w", err)
	}
	if _, err := r.inWorkTimed("commit", "--quiet", "--allow-empty", "--message", msg); err != nil {
		return "", fmt.Errorf("commit %q: %w", msg, err)
	}
	return r.pushCurrent()
}

// Revert commits the revert of sha on the current branch and pushes it.
func (r *Repo) Revert(sha string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.inWorkTimed("revert", "--no-edit", sha); err != nil {
		return "", fmt.Errorf("revert %s: %w", sha, err)
	}
	return r.pushCurrent()
}

// Tag points the lightweight tag name at HEAD (moving it if it exists) and pushes it.
func (r *Repo) Tag(name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.inWork("tag", "--force", name); err != nil {
		return fmt.Errorf("tag %s: %w", name, err)
	}
	return r.pushTag(name)
}

// TagAnnotated points the annotated tag name, with message msg, at HEAD and pushes it.
func (r *Repo) TagAnnotated(name, msg string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.inWorkTimed("tag", "--force", "--annotate", "--message", msg, name); err != nil {
		return fmt.Errorf("tag %s: %w", name, err)
	}
	return r.pushTag(name)
}

// Branch creates the branch name at HEAD and pushes it; the current branch does not change.
func (r *Repo) Branch(name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.inWork("branch", name); err != nil {
		return fmt.Errorf("create branch %s: %w", name, err)
	}
	if _, err := r.inWork("push", "--quiet", "origin", "refs/heads/"+name); err != nil {
		return fmt.Errorf("push branch %s: %w", name, err)
	}
	return nil
}

// DeleteBranch deletes the branch name from the bare repository and the work tree. It cannot be
// the current branch.
func (r *Repo) DeleteBranch(name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.inWork("push", "--quiet", "origin", "--delete", "refs/heads/"+name); err != nil {
		return fmt.Errorf("delete remote branch %s: %w", name, err)
	}
	if _, err := r.inWork("branch", "--delete", "--force", name); err != nil {
		return fmt.Errorf("delete branch %s: %w", name, err)
	}
	return nil
}

// Checkout switches the work tree to an existing branch; later commits go to it.
func (r *Repo) Checkout(branch string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.inWork("checkout", "--quiet", branch); err != nil {
		return fmt.Errorf("check out %s: %w", branch, err)
	}
	return nil
}

// SetDefaultBranch points the bare repository's HEAD, the remote default branch, at branch.
func (r *Repo) SetDefaultBranch(branch string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.git("--git-dir", r.bare, "symbolic-ref", "HEAD", "refs/heads/"+branch); err != nil {
		return fmt.Errorf("set default branch to %s: %w", branch, err)
	}
	return nil
}

// Head is the hash of the work tree's HEAD commit, "" before the first commit.
func (r *Repo) Head() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out, err := r.inWork("rev-parse", "--verify", "--quiet", "HEAD")
	if err != nil {
		return ""
	}
	return out
}

func (r *Repo) pushCurrent() (string, error) {
	branch, err := r.inWork("symbolic-ref", "--short", "HEAD")
	if err != nil {
		return "", fmt.Errorf("read current branch: %w", err)
	}
	if _, err := r.inWork("push", "--quiet", "--force", "origin", "HEAD:refs/heads/"+branch); err != nil {
		return "", fmt.Errorf("push %s: %w", branch, err)
	}
	sha, err := r.inWork("rev-parse", "HEAD")
	if err != nil {
		return "", fmt.Errorf("read HEAD: %w", err)
	}
	return sha, nil
}

func (r *Repo) pushTag(name string) error {
	if _, err := r.inWork("push", "--quiet", "--force", "origin", "refs/tags/"+name); err != nil {
		return fmt.Errorf("push tag %s: %w", name, err)
	}
	return nil
}

// inTree resolves a repository-relative path inside the work tree, refusing any way out of it.
func (r *Repo) inTree(p string) (string, error) {
	clean := filepath.Clean(filepath.FromSlash(p))
	if p == "" || filepath.IsAbs(clean) || clean == "." || clean == ".." ||
		strings.HasPrefix(clean, ".."+string(filepath.Separator)) || clean == ".git" ||
		strings.HasPrefix(clean, ".git"+string(filepath.Separator)) {
		return "", fmt.Errorf("invalid path %q in repository %s", p, r.name)
	}
	return filepath.Join(r.work, clean), nil
}

func (r *Repo) inWork(args ...string) (string, error) {
	return r.git(append([]string{"-C", r.work}, args...)...)
}

// inWorkTimed runs a command that creates an object with a date, advancing the clock.
func (r *Repo) inWorkTimed(args ...string) (string, error) {
	date := fmt.Sprintf("@%d +0000", commitEpoch.Add(time.Duration(r.ticks)*time.Minute).Unix())
	r.ticks++
	return r.gitEnv([]string{"GIT_AUTHOR_DATE=" + date, "GIT_COMMITTER_DATE=" + date},
		append([]string{"-C", r.work}, args...)...)
}

func (r *Repo) git(args ...string) (string, error) { return r.gitEnv(nil, args...) }

// gitEnv runs git with a fixed identity and configuration and returns its trimmed stdout; the
// error carries stderr.
func (r *Repo) gitEnv(extra []string, args ...string) (string, error) {
	config := []string{
		"-c", "user.name=Gitserver Test", "-c", "user.email=gitserver@example.invalid",
		"-c", "init.defaultBranch=main", "-c", "commit.gpgSign=false", "-c", "tag.gpgSign=false",
		"-c", "core.autocrlf=false", "-c", "advice.detachedHead=false",
	}
	cmd := exec.Command("git", append(config, args...)...)
	cmd.Env = gitEnv(r.home, extra...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
		}
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, msg)
	}
	return strings.TrimSpace(stdout.String()), nil
}
