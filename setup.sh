#!/usr/bin/env bash
# Set kpack up on a fresh Debian 12 machine (root, or a user with sudo):
#   system packages: the Vulkan loader and headers, Mesa's lavapipe (a Vulkan device on the CPU, so
#   kpack runs where there is no GPU), glslang + spirv-tools, DejaVu fonts (kpack report's charts); then
#   a glslang that understands GL_KHR_cooperative_matrix / GL_NV_cooperative_matrix2 (Debian 13's,
#   unpacked privately under .toolchain/; best effort: without it coopmat variants are skipped with a
#   warning); then the npm dependencies, the native addon (node-gyp, through npm's install script), the
#   TypeScript build and the built-in default kernel pack; then llama.cpp's CPU build from npm
#   (packs/stage-peer.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
# hipcc + rocm-device-libs (Debian's HIP 5.2.3 / clang 15, ~34 packages with --no-install-recommends, no GPU
# needed): `kpack generate --backend hip` compiles the templates/*.hip.hbs kernels ahead of time into AMD code
# objects (gfx90a, gfx1030, ...; not gfx11) and test/hip-generate.test.ts checks that they build.
packages=(mesa-vulkan-drivers libvulkan-dev vulkan-tools glslang-tools spirv-tools python3 make g++ xz-utils fonts-dejavu-core hipcc rocm-device-libs)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
bash generator/install-glslang.sh || echo "setup: warning: no coopmat-capable glslang; coopmat variants will be skipped"
npm ci --no-audit --no-fund
npm run build
# llama.cpp's CPU build from npm, for `kpack bench --compare llama.cpp` and its test (best effort; not when
# .gpu-peer/ already holds a staging, e.g. the Vulkan build packed for the GPU machine).
[ -e .gpu-peer ] || bash packs/stage-peer.sh cpu || echo "setup: warning: node-llama-cpp not staged; bench --compare llama.cpp and its test will skip"
echo "setup: done"
