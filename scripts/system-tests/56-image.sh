#!/usr/bin/env bash
# System test: cluster/Containerfile builds the runtime image, and hemo runs inside it.
# lane: background (mostly waits on debootstrap, buildah and apt inside the image: the network and the disk)
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: scripts/system-tests/56-image.sh [--prepare-base]   (HEMO=/path/to/hemo)

Builds the runtime image of cluster/Containerfile from a build context made by
cluster/image-context.sh, with Debian's daemonless builder buildah (vfs storage, chroot
isolation; installed from Debian when missing). Its base image is Debian bookworm made here with
debootstrap (minbase, from the Debian mirror) and imported, since no container registry is
reachable: the Containerfile's BASE build argument names it. Then, inside the image:
`hemo --version`, no Swift toolchain (no swift, swiftc or clang), and a small synthetic cohort
built whose MANIFEST.sha256 must equal the host's `hemo build` of the same cohort.
Where buildah cannot build here, it builds the same root file system by hand instead (the
Containerfile's packages installed with apt-get in a chroot, its COPY steps, ldconfig) and runs
the same checks with chroot inside unshare (own mount and PID namespaces).
The debootstrap result is cached in ~/.cache/hemocluster/ (HEMO_IMAGE_CACHE), so reruns take
seconds for it. Needs root; prints SKIP without it or without the Debian mirror.
With --prepare-base it only makes that cached base (and installs debootstrap and buildah), as
scripts/test-deps.sh does while the suite builds.
Environment: HEMO (required); HEMO_IMAGE_BUILDER=chroot forces the fallback;
HEMO_IMAGE_KEEP=1 keeps the work folder and the image.
USAGE
}
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then usage; exit 0; fi
prepare_base=0
[[ "${1:-}" == "--prepare-base" ]] && prepare_base=1

say() { echo "image-test: $(date -u +%H:%M:%S) $*"; }
fail() { echo "image-test: FAILED: $*" >&2; exit 1; }
skip() { echo "SKIP: $*"; exit 0; }

repo=$(cd "$(dirname "$0")/../.." && pwd)
if ((prepare_base == 0)); then
    [[ -n "${HEMO:-}" && -x "${HEMO:-}" ]] || fail "set HEMO to the hemo binary"
    hemo=$(realpath "$HEMO")
fi
[[ $(id -u) -eq 0 ]] || skip "debootstrap, chroot and buildah's chroot isolation need root"

need=()
for p in debootstrap buildah; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if ((${#need[@]})); then
    say "installing ${need[*]}"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"; } >/dev/null 2>&1 ||
        skip "cannot install ${need[*]} from Debian"
fi

work=$(mktemp -d /tmp/hemo-image.XXXXXX)
storage=(--storage-driver vfs --root "$work/storage" --runroot "$work/run")
containers=()
cleanup() {
    local rc=$?
    set +e
    for c in "${containers[@]}"; do buildah "${storage[@]}" rm "$c" >/dev/null 2>&1; done
    mountpoint -q "$work/rootfs/proc" && umount "$work/rootfs/proc"
    if [[ "${HEMO_IMAGE_KEEP:-0}" == "1" ]]; then echo "image-test: kept $work" >&2; else rm -rf "$work"; fi
    exit "$rc"
}
trap cleanup EXIT

# --- the Debian base, cached ----------------------------------------------------------------------
cache=${HEMO_IMAGE_CACHE:-$HOME/.cache/hemocluster}
base_tar=$cache/debian-bookworm-minbase.tar.gz
mkdir -p "$cache"
if [[ ! -s "$base_tar" ]]; then
    say "debootstrap bookworm (minbase) into $base_tar (once; reruns use the cache)"
    start=$SECONDS
    timeout 900 debootstrap --variant=minbase bookworm "$work/base" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 ||
        skip "debootstrap cannot reach the Debian mirror: $(tail -n 2 "$work/debootstrap.log")"
    tar -C "$work/base" -czf "$base_tar.tmp" . && mv "$base_tar.tmp" "$base_tar"
    rm -rf "$work/base"
    say "debootstrap took $((SECONDS - start)) s ($(du -h "$base_tar" | cut -f1))"
fi
if ((prepare_base == 1)); then
    say "the Debian base is ready: $base_tar"
    exit 0
fi

# --- the build context, and the reference -----------------------------------------------------------
"$repo/cluster/image-context.sh" "$hemo" "$work/context"
packages=$(sed -n 's/^# packages: //p' "$repo/cluster/Containerfile")
[[ -n "$packages" ]] || fail "cluster/Containerfile has no '# packages:' line"
"$hemo" synth --out "$work/cohort" --cases 2 --in-plane 48 --slices 6 --threads 1 >/dev/null
"$hemo" build --cohort "$work/cohort" --out "$work/reference" --threads 1 >/dev/null 2>&1

# Runs the checks with $@ as the way to run a command inside the image (argv follows).
check_inside() {
    local version
    version=$("$@" /usr/local/bin/hemo --version) || fail "hemo --version fails inside the image"
    [[ "$version" == "$("$hemo" --version)" ]] || fail "hemo --version inside says '$version'"
    # shellcheck disable=SC2016  # expanded inside the image
    if "$@" /bin/sh -c 'for t in swift swiftc clang ld.lld; do command -v "$t" && exit 1; done; ls /usr/local/lib/swift/linux/*.swiftmodule 2>/dev/null && exit 1; exit 0' >/dev/null; then :; else
        fail "the image holds toolchain parts"
    fi
    "$@" /usr/local/bin/hemo build --cohort /work/cohort --out /work/release --threads 1 >/dev/null 2>&1 ||
        fail "hemo build fails inside the image"
}

builder=${HEMO_IMAGE_BUILDER:-buildah}
if [[ "$builder" == "buildah" ]]; then
    say "buildah $(buildah --version | awk '{print $3}'): importing the base, then building cluster/Containerfile"
    start=$SECONDS
    if ctr=$(buildah "${storage[@]}" from scratch 2>"$work/buildah.log") && containers+=("$ctr") &&
        mnt=$(buildah "${storage[@]}" mount "$ctr" 2>>"$work/buildah.log") &&
        tar -C "$mnt" -xzf "$base_tar" && buildah "${storage[@]}" umount "$ctr" >/dev/null &&
        buildah "${storage[@]}" commit --quiet "$ctr" localhost/hemo-bookworm-base >/dev/null 2>>"$work/buildah.log" &&
        timeout 900 buildah "${storage[@]}" bud --isolation chroot --build-arg BASE=localhost/hemo-bookworm-base \
            -t localhost/hemocluster:test -f "$work/context/Containerfile" "$work/context" >>"$work/buildah.log" 2>&1; then
        say "image built in $((SECONDS - start)) s: $(buildah "${storage[@]}" images --format '{{.Name}}:{{.Tag}} {{.Size}}' localhost/hemocluster:test)"
        run=$(buildah "${storage[@]}" from localhost/hemocluster:test) || fail "cannot start a container of the image"
        containers+=("$run")
        mnt=$(buildah "${storage[@]}" mount "$run")
        cp -r "$work/cohort" "$mnt/work-cohort"
        mkdir -p "$mnt/work" && mv "$mnt/work-cohort" "$mnt/work/cohort" && chown -R 10001:10001 "$mnt/work"
        check_inside buildah "${storage[@]}" run --isolation chroot "$run" --
        cp -r "$mnt/work/release" "$work/inside-release"
    else
        say "buildah cannot build here ($(tail -n 1 "$work/buildah.log")); building the root file system by hand"
        builder=chroot
    fi
fi
if [[ "$builder" == "chroot" ]]; then
    root=$work/rootfs
    mkdir -p "$root"
    tar -C "$root" -xzf "$base_tar"
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    mount -t proc proc "$root/proc"
    # shellcheck disable=SC2086  # the package list splits on spaces
    chroot "$root" /bin/sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $packages && rm -rf /var/lib/apt/lists/*" >"$work/apt.log" 2>&1 ||
        fail "installing $packages in the chroot failed: $(tail -n 3 "$work/apt.log")"
    umount "$root/proc"
    mkdir -p "$root/usr/local/lib/swift/linux" "$root/usr/local/bin"
    cp -r "$work/context/swift-runtime/." "$root/usr/local/lib/swift/linux/"
    echo /usr/local/lib/swift/linux >"$root/etc/ld.so.conf.d/hemo-swift-runtime.conf"
    chroot "$root" ldconfig
    cp -r "$work/context/bin/." "$root/usr/local/bin/"
    mkdir -p "$root/work" && cp -r "$work/cohort" "$root/work/cohort"
    say "root file system built by hand: $(du -sh "$root" | cut -f1)"
    # A fresh /proc for the new PID namespace: Swift reads its arguments from /proc/self/cmdline.
    check_inside unshare --mount --pid --fork --mount-proc="$root/proc" chroot "$root"
    cp -r "$root/work/release" "$work/inside-release"
fi
cmp -s "$work/inside-release/MANIFEST.sha256" "$work/reference/MANIFEST.sha256" ||
    fail "the release built inside the image differs from the host's hemo build"
say "inside the image ($builder): hemo --version, no toolchain, and a build equal to the host's ($(wc -l <"$work/reference/MANIFEST.sha256") files)"
echo "PASS: image ($builder)"
