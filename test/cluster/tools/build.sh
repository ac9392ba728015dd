#!/usr/bin/env bash
# Builds the local control plane binaries used by test/cluster into a versioned cache directory.
# Idempotent: a binary that already exists for the pinned version is not rebuilt.
#   usage: build.sh DEST_DIR
set -euo pipefail

K8S_VERSION=v1.37.2
ETCD_VERSION=v3.6.16
KWOK_VERSION=v0.8.0

here=$(cd "$(dirname "$0")" && pwd)
dest=${1:?usage: build.sh DEST_DIR}
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)

k8s_dir="$dest/kubernetes-$K8S_VERSION"
etcd_dir="$dest/etcd-$ETCD_VERSION"
kwok_dir="$dest/kwok-$KWOK_VERSION"

minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"

build() { # name dir module-dir package
  local name=$1 dir=$2 moddir=$3 pkg=$4
  if [ -x "$dir/$name" ]; then
    return 0
  fi
  echo "building $name into $dir (the first build of the control plane takes about 10 minutes)"
  mkdir -p "$dir"
  (cd "$moddir" && go build -trimpath -ldflags "$ldflags" -o "$dir/$name.tmp" "$pkg")
  mv "$dir/$name.tmp" "$dir/$name"
}

build etcd "$etcd_dir" "$here/etcd" .
build kube-apiserver "$k8s_dir" "$here" k8s.io/kubernetes/cmd/kube-apiserver
build kube-controller-manager "$k8s_dir" "$here" k8s.io/kubernetes/cmd/kube-controller-manager
build kube-scheduler "$k8s_dir" "$here" k8s.io/kubernetes/cmd/kube-scheduler
build kubectl "$k8s_dir" "$here" k8s.io/kubernetes/cmd/kubectl

if [ ! -x "$kwok_dir/kwok" ]; then
  echo "installing kwok $KWOK_VERSION into $kwok_dir"
  mkdir -p "$kwok_dir"
  GOBIN="$kwok_dir" go install "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
fi

# kwok needs stage definitions: the module ships them; join them into one config file.
if [ ! -s "$kwok_dir/stages.yaml" ]; then
  kwok_src=$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  stages="$kwok_src/kustomize/stage"
  {
    first=1
    for f in "$stages/node/fast/node-initialize.yaml" "$stages/node/heartbeat/node-heartbeat.yaml" "$stages"/pod/fast/pod-*.yaml; do
      [ $first = 1 ] || echo '---'
      first=0
      cat "$f"
    done
  } > "$kwok_dir/stages.yaml.tmp"
  mv "$kwok_dir/stages.yaml.tmp" "$kwok_dir/stages.yaml"
fi

# One flat directory of links, the form controller-runtime's envtest (KUBEBUILDER_ASSETS) and
# test/cluster expect.
mkdir -p "$dest/current"
for f in "$etcd_dir/etcd" "$k8s_dir/kube-apiserver" "$k8s_dir/kube-controller-manager" \
         "$k8s_dir/kube-scheduler" "$k8s_dir/kubectl" "$kwok_dir/kwok" "$kwok_dir/stages.yaml"; do
  ln -sfn "$f" "$dest/current/$(basename "$f")"
done
echo "control plane binaries ready in $dest/current"
