#!/usr/bin/env bash
# Installs, in one pass, what the system tests under scripts/system-tests/ install one by one when
# they find it missing: Debian packages (one apt-get update, two installs), the Python packages of
# the peers and fixture writers (one pip install, the model zoo's pins included), nnU-Net's
# virtualenv (scripts/peers/nnunet-venv.sh) and the Debian base of the image test (56-image.sh
# --prepare-base). Each test still checks and installs for itself, so it runs alone as before;
# scripts/test.sh runs this in the background while SwiftPM builds, so the downloads overlap the
# compile instead of adding to the suite's time. Idempotent; a failure here is reported, and the
# test that needs what is missing then says why.
set -uo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
fi
cd "$(dirname "$0")/.." || exit 1
say() { echo "test-deps: $(date -u +%H:%M:%S) $*"; }
status=0
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

# --- Debian packages (as the tests install them: with recommends, except where a test does not) --
with_recommends=(slurm-wlm munge qemu-user iproute2 shellcheck systemd strace dcm2niix dcmtk python3-venv)
without_recommends=(openssh-server openssh-client debootstrap buildah)
missing() { local p; for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"; done; }
mapfile -t apt_a < <(missing "${with_recommends[@]}")
mapfile -t apt_b < <(missing "${without_recommends[@]}")
if ((${#apt_a[@]} + ${#apt_b[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        say "not root: leaving ${apt_a[*]} ${apt_b[*]} to the tests (they skip without them)"
    else
        start=$SECONDS
        export DEBIAN_FRONTEND=noninteractive
        if { apt-get update -qq &&
            { ((${#apt_a[@]} == 0)) || apt-get install -y -qq "${apt_a[@]}"; } &&
            { ((${#apt_b[@]} == 0)) || apt-get install -y -qq --no-install-recommends "${apt_b[@]}"; }; } >"$logs/apt.log" 2>&1; then
            say "apt: installed ${apt_a[*]} ${apt_b[*]} in $((SECONDS - start)) s"
        else
            tail -n 20 "$logs/apt.log"
            say "apt: installing ${apt_a[*]} ${apt_b[*]} failed"; status=1
        fi
    fi
fi

# --- Python packages --------------------------------------------------------------------------
# The model zoo's pinned exporters and peer (57-model-zoo.sh, from make-model-zoo-fixtures.py's
# PINNED), then what the other peers import.
mapfile -t pinned < <(bash scripts/fixtures/model-zoo-pins.sh | while read -r name version; do echo "$name==$version"; done)
python_packages=("${pinned[@]}" "numpy>=2" scipy nibabel pycocotools pillow dipy pydicom pylibjpeg pylibjpeg-openjpeg
                 kubernetes-validate)
start=$SECONDS
if python3 -m pip install -q --disable-pip-version-check "${python_packages[@]}" >"$logs/pip.log" 2>&1; then
    say "pip: ${#python_packages[@]} requirements in place in $((SECONDS - start)) s"
else
    tail -n 20 "$logs/pip.log"
    say "pip install failed"; status=1
fi

# --- nnU-Net's virtualenv (after torch is in the system Python, which it reuses) ----------------
start=$SECONDS
if scripts/peers/nnunet-venv.sh >/dev/null 2>"$logs/venv.log"; then
    say "nnU-Net virtualenv ready in $((SECONDS - start)) s"
else
    tail -n 20 "$logs/venv.log"
    say "nnU-Net virtualenv failed"; status=1
fi

# --- the image test's Debian base (cached under ~/.cache/hemocluster) ---------------------------
if [[ $(id -u) -eq 0 ]]; then
    start=$SECONDS
    if bash scripts/system-tests/56-image.sh --prepare-base >"$logs/image.log" 2>&1; then
        say "image base ready in $((SECONDS - start)) s"
    else
        tail -n 20 "$logs/image.log"
        say "image base failed"; status=1
    fi
fi
exit "$status"
