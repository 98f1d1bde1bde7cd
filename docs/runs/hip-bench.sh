#!/usr/bin/env bash
# HIP back-end on the GPU machine: the HIP-vs-Vulkan graph test, then a bench of the synthetic
# Llama-3.2-1B Q4_0 through the HIP kernels (NVRTC on NVIDIA), beside the same bench on Vulkan.
# Usage (repository root, after `npx tsc -p tsconfig.json && npm run build:kernels` and the native build):
#   . .device/prelude.sh; export NODE_PATH=.gpu/node_modules
#   export KPACK_NVRTC_LIB=$(ls /usr/local/cuda*/lib64/libnvrtc.so | head -1)
#   bash docs/runs/hip-bench.sh [OUT_DIR]
set -euo pipefail
out=${1:-/tmp/kpack-hip-bench}
mkdir -p "$out"
node --test --test-concurrency=1 dist/test/hip-graph.test.js 2>&1 | tee "$out/hip-graph.test.txt"
[ -f /tmp/m.gguf ] || node dist/bin/kpack.js synth --preset llama-3.2-1b --type q4_0 -o /tmp/m.gguf
node dist/bin/kpack.js bench -m /tmp/m.gguf --backend hip -p 512 -n 128 -r 2 2>&1 | tee "$out/bench-hip.txt"
node dist/bin/kpack.js bench -m /tmp/m.gguf --default-kernels -p 512 -n 128 -r 2 2>&1 | tee "$out/bench-vulkan-defaults.txt"
