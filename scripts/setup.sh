#!/usr/bin/env bash
# Installs what building HemoCluster needs on Debian (the C libraries' -dev packages)
# and builds the `hemo` executable. Idempotent: a second run only checks.
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: scripts/setup.sh [--release|--debug|--packages-only]

Installs Debian's libnifti-dev, libzmq3-dev, liblz4-dev, zlib1g-dev, libdeflate-dev, libpng-dev,
libopenjp2-7-dev, libcharls-dev, libturbojpeg0-dev and libssl-dev when they are
missing (apt-get, as root or through sudo), then builds `hemo` with SwiftPM.
Prints the path of the built binary on its last line. --packages-only installs the packages
and builds nothing.
USAGE
}

config=release
case "${1:-}" in
    -h|--help) usage; exit 0 ;;
    --debug) config=debug ;;
    --packages-only) config="" ;;
    --release|"") ;;
    *) echo "setup.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
esac

cd "$(dirname "$0")/.."
packages=(libnifti-dev libzmq3-dev liblz4-dev zlib1g-dev libdeflate-dev libpng-dev libopenjp2-7-dev libcharls-dev libturbojpeg0-dev libssl-dev pkg-config)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    echo "setup: installing ${missing[*]}" >&2
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >&2
fi
[[ -n "$config" ]] || exit 0
command -v swift >/dev/null || { echo "setup: swift is not on PATH; install Swift 6 first" >&2; exit 1; }
swift build -c "$config" --product hemo >&2
echo "$(swift build -c "$config" --show-bin-path)/hemo"
