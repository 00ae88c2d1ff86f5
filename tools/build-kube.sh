#!/usr/bin/env bash
# Build a real control plane from the Go module proxy for the test suite
# (tests/harness/kube.py, tests/harness/cluster.py): etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler and kwok (fake nodes and kubelets).
# Needs only Go; no Docker, no release downloads.
#
# Output: ${KEA_CACHE_DIR:-<repo>/.cache}/kube/<kube version>/bin/
#         {etcd,kube-apiserver,kube-controller-manager,kube-scheduler,kwok}
# The versions are the ones pinned in tools/kube/*/go.mod.
# KEA_KUBE_ONLY=apiserver builds only etcd + kube-apiserver (what kube.py needs).
# Idempotent: a binary that already reports the pinned version is not rebuilt.
# A cold build takes a long while on 2 cores; Go's build cache (~/.cache/go-build)
# makes later builds, e.g. in a fresh clone, much faster.
# Prints the bin dir as its last line of stdout.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src="$repo/tools/kube"

# shellcheck source=tools/lib.sh
source "$repo/tools/lib.sh"
require_go build-kube

# The pinned versions, read from the wrapper modules (the single source of truth).
kube_version=$(pinned k8s.io/kubernetes "$src/apiserver/go.mod")
etcd_version=$(pinned go.etcd.io/etcd/server/v3 "$src/etcd/go.mod")
kwok_version=$(pinned sigs.k8s.io/kwok "$src/kwok/go.mod")
[[ -n $kube_version && -n $etcd_version && -n $kwok_version ]] || { echo "build-kube: cannot read pinned versions" >&2; exit 2; }

bin="${KEA_CACHE_DIR:-$repo/.cache}/kube/$kube_version/bin"
mkdir -p "$bin"

minor=${kube_version#v1.}; minor=${minor%%.*}
kube_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    kube_ldflags+=" -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    kube_ldflags+=" -X $pkg.gitTreeState=clean"
done

# build NAME DIR LDFLAGS WANT: go build in DIR unless bin/NAME --version already prints WANT.
build() {
    local name=$1 dir=$2 ldflags=$3 want=$4 start
    if [[ -x $bin/$name ]] && "$bin/$name" --version 2>/dev/null | grep -qF -- "$want"; then
        echo "build-kube: $name $want already built" >&2
        return
    fi
    echo "build-kube: building $name ($want) ..." >&2
    start=$SECONDS
    # Static, path-independent binaries; write to a temp name so an interrupted
    # build never leaves a half-written binary that looks finished.
    (cd "$dir" && CGO_ENABLED=0 go build -mod=readonly -buildvcs=false -trimpath \
        -ldflags "$ldflags" -o "$bin/.$name.$$.tmp" .)
    mv -f "$bin/.$name.$$.tmp" "$bin/$name"
    echo "build-kube: built $name in $((SECONDS - start))s" >&2
}

total=$SECONDS
build etcd "$src/etcd" "-s -w" "etcd Version: ${etcd_version#v}"
build kube-apiserver "$src/apiserver" "$kube_ldflags" "Kubernetes $kube_version"
if [[ ${KEA_KUBE_ONLY:-} != apiserver ]]; then
    build kube-controller-manager "$src/controller-manager" "$kube_ldflags" "Kubernetes $kube_version"
    build kube-scheduler "$src/scheduler" "$kube_ldflags" "Kubernetes $kube_version"
    build kwok "$src/kwok" "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${kwok_version#v}" "${kwok_version#v}"
fi
echo "build-kube: done in $((SECONDS - total))s" >&2
echo "$bin"
