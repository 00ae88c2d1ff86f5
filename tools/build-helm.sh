#!/usr/bin/env bash
# Build the real helm CLI from the Go module proxy for the chart tests
# (tests/deploy/test_chart.py). Needs only Go; no release downloads.
#
# Output: ${KEA_CACHE_DIR:-<repo>/.cache}/helm/<helm version>/bin/helm
# The version is the one pinned in tools/helm/go.mod (`require helm.sh/helm/v3`);
# the wrapper module builds helm.sh/helm/v3/cmd/helm through its `tool` directive,
# so go.sum pins every dependency.
# Idempotent: a binary that already reports the pinned version is not rebuilt.
# Stamps the version (`helm version`) and the Kubernetes version helm assumes for
# `helm template`/`helm lint` (.Capabilities.KubeVersion) as upstream's Makefile does.
# Prints the bin dir as its last line of stdout.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src="$repo/tools/helm"

# shellcheck source=tools/lib.sh
source "$repo/tools/lib.sh"
require_go build-helm

helm_version=$(pinned helm.sh/helm/v3 "$src/go.mod")
client_go=$(pinned k8s.io/client-go "$src/go.mod")   # v0.<minor>.<patch>
[[ -n $helm_version && -n $client_go ]] || { echo "build-helm: cannot read pinned versions" >&2; exit 2; }
kube_minor=${client_go#v0.}; kube_minor=${kube_minor%%.*}

bin="${KEA_CACHE_DIR:-$repo/.cache}/helm/$helm_version/bin"
mkdir -p "$bin"

if [[ -x $bin/helm ]] && "$bin/helm" version --template '{{.Version}}' 2>/dev/null | grep -qxF -- "$helm_version"; then
    echo "build-helm: helm $helm_version already built" >&2
    echo "$bin"
    exit 0
fi

ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$helm_version"
ldflags+=" -X helm.sh/helm/v3/internal/version.metadata= -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$kube_minor"
done

echo "build-helm: building helm ($helm_version) ..." >&2
start=$SECONDS
# Static, path-independent binary; written to a temp name so an interrupted build
# never leaves a half-written binary that looks finished.
(cd "$src" && CGO_ENABLED=0 go build -mod=readonly -buildvcs=false -trimpath \
    -ldflags "$ldflags" -o "$bin/.helm.$$.tmp" helm.sh/helm/v3/cmd/helm)
mv -f "$bin/.helm.$$.tmp" "$bin/helm"
echo "build-helm: built helm in $((SECONDS - start))s" >&2
echo "$bin"
