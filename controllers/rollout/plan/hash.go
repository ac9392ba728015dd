package plan

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/rand"
)

// PodTemplateHash is the hash that names a Rollout's ReplicaSet for a pod template: the FNV-1a
// hash of the template's JSON encoding (stable across processes: encoding/json sorts map keys),
// salted with the collision count, in the alphabet Kubernetes uses for generated names.
func PodTemplateHash(template *corev1.PodTemplateSpec, collisionCount *int32) string {
	h := fnv.New32a()
	data, err := json.Marshal(template)
	if err != nil {
		// A PodTemplateSpec always encodes; keep the hash defined all the same.
		data = []byte(fmt.Sprintf("%#v", template))
	}
	_, _ = h.Write(data)
	if collisionCount != nil {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(*collisionCount))
		_, _ = h.Write(b[:])
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// StepsHash identifies a list of canary steps, so that a change to the steps restarts them.
func StepsHash(v any) string {
	h := fnv.New32a()
	data, _ := json.Marshal(v)
	_, _ = h.Write(data)
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}
