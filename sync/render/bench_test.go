package render

import (
	"fmt"
	"testing"

	"github.com/sluice-dev/sluice/api/sluice/v1alpha1"
)

// benchRepo holds 1000 small ConfigMaps in 100 files of 10 documents, and a kustomization
// naming the files.
func benchRepo(b *testing.B) string {
	files := map[string]string{}
	kustomization := "resources:\n"
	for f := range 100 {
		var content string
		for d := range 10 {
			content += "---\n" + configMap(fmt.Sprintf("cm-%03d-%d", f, d))
		}
		name := fmt.Sprintf("cm-%03d.yaml", f)
		files["apps/bench/"+name] = content
		kustomization += "  - " + name + "\n"
	}
	files["apps/bench/kustomization.yaml"] = kustomization
	return writeTree(b, b.TempDir(), files)
}

func BenchmarkRender1000(b *testing.B) {
	root := benchRepo(b)
	for _, typ := range []v1alpha1.RenderType{v1alpha1.RenderDirectory, v1alpha1.RenderKustomize} {
		b.Run(string(typ), func(b *testing.B) {
			for b.Loop() {
				objs, err := Render(b.Context(), root, Options{Path: "apps/bench", Type: typ})
				if err != nil || len(objs) != 1000 {
					b.Fatalf("got %d objects, %v", len(objs), err)
				}
			}
		})
	}
}
