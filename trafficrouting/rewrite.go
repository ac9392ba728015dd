package trafficrouting

import (
	"context"

	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Rewrite brings one routing object to its desired state: it reads the object at key into a fresh
// newObj(), applies the pure rewrite, and only when rewrite reports a change patches the object
// with a merge patch that carries the resourceVersion it read. When someone else wrote the object
// in between, the patch fails with a conflict and Rewrite starts again from a fresh read, so it
// never writes back a stale copy. It reports whether it wrote. Errors from Get and Patch are
// returned unwrapped for the caller to classify (not found, invalid).
func Rewrite[T client.Object](ctx context.Context, c client.Client, key client.ObjectKey, newObj func() T, rewrite func(T) (bool, error)) (bool, error) {
	changed := false
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		obj := newObj()
		if err := c.Get(ctx, key, obj); err != nil {
			return err
		}
		orig := obj.DeepCopyObject().(client.Object)
		var err error
		if changed, err = rewrite(obj); err != nil || !changed {
			return err
		}
		return c.Patch(ctx, obj, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{}))
	})
	return changed && err == nil, err
}
