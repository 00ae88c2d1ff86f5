#!/usr/bin/env bash
# Build the real promtool from the Go module proxy for the self-monitoring rule
# tests (tests/deploy/test_prometheus_rules.py: `promtool check rules`, `promtool test rules`).
# Needs only Go; no release downloads.
#
# Output: ${KEA_CACHE_DIR:-<repo>/.cache}/promtool/<prometheus version>/bin/promtool
# The version is the one pinned in tools/promtool/go.mod (`require
# github.com/prometheus/prometheus v0.3MM.P`, which is Prometheus 3.MM.P); the wrapper
# module builds cmd/promtool through its `tool` directive, so go.sum pins every dependency.
# Built with `-tags remove_all_sd`: the rule checks need none of the service-discovery
# plugins (cloud SDKs), which are most of a full build.
# Idempotent: a binary that already reports the pinned version is not rebuilt.
# Prints the bin dir as its last line of stdout.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src="$repo/tools/promtool"

# shellcheck source=tools/lib.sh
source "$repo/tools/lib.sh"
require_go build-promtool

module_version=$(pinned github.com/prometheus/prometheus "$src/go.mod")
[[ $module_version =~ ^v0\.([0-9])([0-9]{2})\.([0-9]+)$ ]] \
    || { echo "build-promtool: cannot read the pinned version (got '$module_version')" >&2; exit 2; }
version="${BASH_REMATCH[1]}.$((10#${BASH_REMATCH[2]})).${BASH_REMATCH[3]}"

bin="${KEA_CACHE_DIR:-$repo/.cache}/promtool/v$version/bin"
mkdir -p "$bin"

if [[ -x $bin/promtool ]] && "$bin/promtool" --version 2>/dev/null | grep -qF -- "version $version "; then
    echo "build-promtool: promtool $version already built" >&2
    echo "$bin"
    exit 0
fi

v=github.com/prometheus/common/version
ldflags="-s -w -X $v.Version=$version -X $v.Branch=HEAD -X $v.Revision=$module_version"

echo "build-promtool: building promtool ($version, module $module_version) ..." >&2
start=$SECONDS
# Static, path-independent binary; written to a temp name so an interrupted build
# never leaves a half-written binary that looks finished.
(cd "$src" && CGO_ENABLED=0 go build -mod=readonly -buildvcs=false -trimpath \
    -tags netgo,remove_all_sd -ldflags "$ldflags" -o "$bin/.promtool.$$.tmp" \
    github.com/prometheus/prometheus/cmd/promtool)
mv -f "$bin/.promtool.$$.tmp" "$bin/promtool"
echo "build-promtool: built promtool in $((SECONDS - start))s" >&2
echo "$bin"
