package apply

import (
	"errors"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

type schemaGVK = schema.GroupVersionKind

var errUnknownKind = errors.New("the cluster has no such kind")

func nsName(ns, name string) types.NamespacedName {
	return types.NamespacedName{Namespace: ns, Name: name}
}
