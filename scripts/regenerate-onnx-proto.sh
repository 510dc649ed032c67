#!/usr/bin/env bash
# Regenerates Sources/HemoInference/Generated/onnx.pb.swift from ONNX's onnx.proto.
#
# Needs: protoc (Debian: protobuf-compiler), pip, git, swift.
# onnx.proto comes from PyPI's `onnx` wheel (downloaded to a temporary directory, never committed);
# protoc-gen-swift is built from swift-protobuf at the version Package.swift pins (1.39.0).
#
# Usage: scripts/regenerate-onnx-proto.sh [ONNX_VERSION]   (default: the version last used, 1.23.2)
set -euo pipefail

onnx_version="${1:-1.23.2}"
protobuf_version="1.39.0"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

command -v protoc >/dev/null || { echo "regenerate-onnx-proto: protoc missing (apt-get install protobuf-compiler)" >&2; exit 1; }

plugin="${PROTOC_GEN_SWIFT:-}"
if [[ -z "$plugin" ]]; then
    source_url="${SWIFT_PROTOBUF_GIT:-https://github.com/apple/swift-protobuf.git}"
    [[ -d /opt/swift-packages/apple/swift-protobuf.git ]] && source_url=/opt/swift-packages/apple/swift-protobuf.git
    git clone -q "$source_url" "$work/swift-protobuf"
    git -C "$work/swift-protobuf" checkout -q "$protobuf_version"
    (cd "$work/swift-protobuf" && swift build -c release --product protoc-gen-swift >&2)
    plugin="$work/swift-protobuf/.build/release/protoc-gen-swift"
fi

(cd "$work" && pip download -q --no-deps --only-binary=:all: "onnx==$onnx_version" -d wheel >&2)
(cd "$work" && python3 -m zipfile -e wheel/onnx-*.whl unpacked >/dev/null)
mkdir -p "$work/proto"
cp "$work/unpacked/onnx/onnx.proto" "$work/proto/onnx.proto"

mkdir -p "$work/out"
protoc --plugin=protoc-gen-swift="$plugin" --swift_opt=Visibility=Internal \
    --swift_out="$work/out" -I "$work/proto" "$work/proto/onnx.proto"
install -m 644 "$work/out/onnx.pb.swift" "$root/Sources/HemoInference/Generated/onnx.pb.swift"
echo "regenerate-onnx-proto: wrote Sources/HemoInference/Generated/onnx.pb.swift from onnx $onnx_version" >&2
