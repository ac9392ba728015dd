package lint

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Paths checks files, directories (every .yaml, .yml and .json file under them) and "-" (stdin)
// together. An unreadable path is an error; problems in the objects are in the report.
func Paths(paths []string, stdin io.Reader) (Report, error) {
	var r Report
	var docs []Document
	for _, p := range paths {
		if p == "-" {
			data, err := io.ReadAll(stdin)
			if err != nil {
				return r, fmt.Errorf("read stdin: %w", err)
			}
			docs = append(docs, SplitDocuments("<stdin>", data)...)
			continue
		}
		files, err := manifestFiles(p)
		if err != nil {
			return r, err
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return r, fmt.Errorf("read %s: %w", f, err)
			}
			docs = append(docs, SplitDocuments(f, data)...)
		}
	}
	// One pass over all of them: a Rollout's templates may be in another file.
	r.Check(docs)
	return r, nil
}

func manifestFiles(path string) ([]string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	var out []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != path && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		switch strings.ToLower(filepath.Ext(p)) {
		case ".yaml", ".yml", ".json":
			if !d.IsDir() {
				out = append(out, p)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read directory %s: %w", path, err)
	}
	sort.Strings(out)
	return out, nil
}
