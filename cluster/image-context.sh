#!/usr/bin/env bash
# Makes the build context of cluster/Containerfile from a built hemo: bin/hemo with its SwiftPM
# resource bundles, and swift-runtime/ with every Swift runtime library hemo loads (found with
# ldd under the toolchain's lib folder), nothing else of the toolchain.
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: cluster/image-context.sh HEMO_BINARY CONTEXT_DIR

Copies HEMO_BINARY (e.g. .build/release/hemo) and the *.resources bundles beside it to
CONTEXT_DIR/bin/, the Swift runtime libraries it links (those ldd resolves outside the system's
library folders) to CONTEXT_DIR/swift-runtime/, and cluster/Containerfile to CONTEXT_DIR.
Then: buildah bud -t hemocluster:latest CONTEXT_DIR   (or podman build / docker build).
USAGE
}
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then usage; exit 0; fi
(($# == 2)) || { usage >&2; exit 2; }
hemo=$(realpath "$1")
out=$2
[[ -x "$hemo" ]] || { echo "image-context: '$1' is not an executable" >&2; exit 1; }
command -v ldd >/dev/null || { echo "image-context: ldd is needed" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)

rm -rf "$out"
mkdir -p "$out/bin" "$out/swift-runtime"
cp "$hemo" "$out/bin/hemo"
for bundle in "$(dirname "$hemo")"/*.resources; do
    [[ -d "$bundle" ]] || continue
    # Only the bundles of hemo's own modules (tests' bundles are not needed).
    case "${bundle##*/}" in *Tests.resources|*TestKit.resources) continue ;; esac
    cp -r "$bundle" "$out/bin/"
done
# Libraries from the system's folders come from Debian packages in the image; the rest (the
# Swift runtime) is copied.
missing=$(ldd "$hemo" | awk '/not found/ { print $1 }')
[[ -z "$missing" ]] || { echo "image-context: $hemo needs libraries this machine lacks: $missing" >&2; exit 1; }
count=0
while read -r lib; do
    case "$lib" in
        /lib/*|/lib64/*|/usr/lib/*|/usr/lib64/*) ;;
        *) cp -L "$lib" "$out/swift-runtime/"; count=$((count + 1)) ;;
    esac
done < <(ldd "$hemo" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }')
cp "$here/Containerfile" "$out/Containerfile"
echo "image-context: $out: hemo ($(du -sh "$out/bin" | cut -f1) with resources), $count Swift runtime libraries ($(du -sh "$out/swift-runtime" | cut -f1))"
