#!/usr/bin/env bash
# Renders a QC folder's index.html (written by `hemo qc`) to a PNG with headless Chromium, so a
# person can look at the report without a desktop. Installs Debian's `chromium` when missing.
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: scripts/ops/qc-screenshot.sh RELEASE_QC_DIR OUT.png [WIDTH,HEIGHT]

RELEASE_QC_DIR  a folder written by `hemo qc RELEASE --out RELEASE_QC_DIR` (holds index.html)
OUT.png         where to write the screenshot
WIDTH,HEIGHT    window size in pixels (default 1400,2000)

Installs Debian's chromium through apt-get (as root or through sudo) when it is not on PATH.
USAGE
}

case "${1:-}" in -h|--help) usage; exit 0 ;; esac
[[ $# -ge 2 && $# -le 3 ]] || { usage >&2; exit 2; }
qc_dir=$1
out=$2
size=${3:-1400,2000}
[[ -f "$qc_dir/index.html" ]] || { echo "qc-screenshot: $qc_dir/index.html does not exist; run 'hemo qc RELEASE --out $qc_dir' first" >&2; exit 1; }

if ! command -v chromium >/dev/null; then
    sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    echo "qc-screenshot: installing chromium" >&2
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >&2
fi

index=$(cd "$qc_dir" && pwd)/index.html
out_abs=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$profile" \
    --screenshot="$out_abs" --window-size="$size" "file://$index" >/dev/null 2>&1 \
    || { echo "qc-screenshot: chromium failed to render $index" >&2; exit 1; }
[[ -s "$out_abs" ]] || { echo "qc-screenshot: chromium wrote no screenshot to $out_abs" >&2; exit 1; }
echo "$out_abs"
