#!/usr/bin/env bash
# GPU call 2 of 2026-12-03: matmul.vecq sweep with PIPE (q4_0), then packs/tune-on-gpu.sh tune-measure for the
# 1B Q4_0 model (autotune with BQ / PIPE in the space and the output head in Q6_K, bench-ops, decode profile
# vs the defaults, llama.cpp Vulkan side by side). Run from the repository root after . .device/prelude.sh.
set -uo pipefail
out=${1:-/tmp/run}; mkdir -p "$out"
export NODE_PATH=$PWD/.gpu/node_modules KPACK_CACHE=/tmp/kpack-cache XDG_CACHE_HOME=/tmp/xdg
mkdir -p .gpu-peer && cp .gpu/peer/node_modules.tar.xz .gpu-peer/
echo "== vecq sweep ($(date +%T))"
FAMILY=matmul.vecq SHAPES=3 timeout 120 node docs/runs/gemv-sweep.js q4_0 60 2>&1 | tee "$out/vecq-sweep-pipe.txt" | grep -A4 "^q4_0"
CHECK=none TUNE_S=${TUNE_S:-210} OPS_S=60 COMPARE_S=110 bash packs/tune-on-gpu.sh tune-measure "$out"
