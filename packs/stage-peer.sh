#!/usr/bin/env bash
# Stage llama.cpp from npm (node-llama-cpp and its prebuilt binaries) for `kpack bench --compare llama.cpp`
# into .gpu-peer/, a folder small enough to carry to a machine with no network.
#
#   packs/stage-peer.sh [--xz] [BUILD...]   BUILD: vulkan (default) | cpu | cuda   (needs the npm registry)
#       writes .gpu-peer/node_modules/: node-llama-cpp, its JavaScript dependencies and the
#       @node-llama-cpp/linux-x64[-vulkan|-cuda] packages asked for, without what loading them never
#       reads (node-llama-cpp's llama.cpp source bundle, C++ addon source, templates, source maps,
#       type declarations). --xz then packs that folder into .gpu-peer/node_modules.tar.xz and removes it.
#   packs/stage-peer.sh --unpack             (no network) .gpu-peer/node_modules.tar.xz -> .gpu-peer/node_modules/
#
# kpack finds the staged package at $KPACK_NODE_LLAMA_CPP (a node_modules folder holding node-llama-cpp, or
# the node-llama-cpp folder itself), else at .gpu-peer/node_modules, else wherever Node resolves it from
# the package root. node-llama-cpp's own postinstall never runs (npm --ignore-scripts): nothing is
# downloaded or built after staging. NLC_VERSION pins the version (default 3.22.1: llama.cpp de3ff815, the
# build ../shared/ANCHORS.md measured). .gpu-peer/ is added to git's info/exclude (the common one: this may
# be a worktree).
#
# Sizes (3.22.1): node-llama-cpp 39.9 MB unpacked, 11 MB once pruned with its dependencies;
# linux-x64-vulkan 73.8 MB (libggml-vulkan.so 43 MB); linux-x64 (CPU) 30.4 MB; linux-x64-cuda 189 MB
# (libggml-cuda.so 159 MB) plus linux-x64-cuda-ext 374 MB. Vulkan, --xz: 11.3 MB. CUDA does not fit a
# 64 MiB carry, packed or not (its libraries are already compressed fatbins: 143 MB as .tgz).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=.gpu-peer
version=${NLC_VERSION:-3.22.1}

if [ "${1:-}" = --unpack ]; then
  [ -f $out/node_modules.tar.xz ] || { echo "stage-peer: no $out/node_modules.tar.xz (run packs/stage-peer.sh --xz first)" >&2; exit 1; }
  rm -rf $out/node_modules
  if tar --version >/dev/null 2>&1 && command -v xz >/dev/null; then
    tar -xJf $out/node_modules.tar.xz -C $out
  else
    python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' $out/node_modules.tar.xz $out
  fi
  echo "stage-peer: unpacked $(du -sh $out/node_modules | cut -f1) into $out/node_modules"
  exit 0
fi

xz=0
builds=()
for a in "$@"; do
  case $a in
    --xz) xz=1 ;;
    vulkan|cpu|cuda) builds+=("$a") ;;
    *) echo "stage-peer: unknown argument $a (expected --xz, --unpack, vulkan, cpu or cuda)" >&2; exit 2 ;;
  esac
done
[ ${#builds[@]} -gt 0 ] || builds=(vulkan)

exclude="$(git rev-parse --git-common-dir 2>/dev/null || true)/info/exclude"
if [ -d "$(dirname "$exclude")" ] && ! grep -qx '/.gpu-peer/' "$exclude" 2>/dev/null; then
  echo '/.gpu-peer/' >> "$exclude"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The config key is node-llama-cpp's documented switch for its postinstall (belt and braces with --ignore-scripts).
printf '{"name":"kpack-peer","version":"1.0.0","private":true,"config":{"nodeLlamaCppPostinstall":"skip"}}\n' > "$tmp/package.json"
echo "stage-peer: node-llama-cpp@$version and its dependencies"
(cd "$tmp" && npm install --omit=optional --ignore-scripts --no-audit --no-fund --no-package-lock "node-llama-cpp@$version" >/dev/null)
for b in "${builds[@]}"; do
  case $b in vulkan) pkg=linux-x64-vulkan ;; cpu) pkg=linux-x64 ;; cuda) pkg=linux-x64-cuda ;; esac
  echo "stage-peer: @node-llama-cpp/$pkg@$version"
  (cd "$tmp" && npm pack --silent "@node-llama-cpp/$pkg@$version" >/dev/null)
  mkdir -p "$tmp/node_modules/@node-llama-cpp/$pkg"
  tar -xzf "$tmp"/node-llama-cpp-"$pkg"-"$version".tgz -C "$tmp/node_modules/@node-llama-cpp/$pkg" --strip-components=1
done
nlc="$tmp/node_modules/node-llama-cpp"
rm -rf "$nlc/llama/gitRelease.bundle" "$nlc/llama/addon" "$nlc/templates"
find "$tmp/node_modules" -type f \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.md' \) -delete

rm -rf $out/node_modules $out/node_modules.tar.xz
mkdir -p $out
mv "$tmp/node_modules" $out/node_modules
printf 'node-llama-cpp %s, builds: %s, staged %s by packs/stage-peer.sh\n' "$version" "${builds[*]}" "$(date -u +%F)" > $out/STAGED.txt
echo "stage-peer: $out/node_modules $(du -sh $out/node_modules | cut -f1)"
if [ $xz = 1 ]; then
  tar -C $out -cf - node_modules | xz -T0 -6 > $out/node_modules.tar.xz
  rm -rf $out/node_modules
  echo "stage-peer: $out/node_modules.tar.xz $(du -sh $out/node_modules.tar.xz | cut -f1) (unpack there with packs/stage-peer.sh --unpack)"
fi
