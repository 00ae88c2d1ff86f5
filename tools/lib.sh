# Shared by the tools/build-*.sh scripts (source it; it defines functions only).

# pinned MODULE GOMOD: the version MODULE is required at in GOMOD (the wrapper modules'
# go.mod files are the single source of truth for every version the tests build).
pinned() {
    awk -v m="$1" '$1 == "//" {next} {for (i = 1; i < NF; i++) if ($i == m && $(i+1) ~ /^v[0-9]/) {print $(i+1); exit}}' "$2"
}

# require_go NAME: fail (exit 2) with NAME's prefix unless go is on PATH.
require_go() {
    command -v go >/dev/null || { echo "$1: go not found in PATH" >&2; exit 2; }
}
