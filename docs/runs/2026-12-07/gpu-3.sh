#!/usr/bin/env bash
# GPU call 3 of the 2026-12-07 session: the ffn.vecq kernel test (fixed to use the built SPIR-V where the GPU
# machine has no glslang), the graph test of the fusion, and the sweep with host-side set-up that fits the call.
set -uo pipefail
out=${1:-/tmp/run}; mkdir -p "$out"
export NODE_PATH=$PWD/.gpu/node_modules KPACK_CACHE=/tmp/kpack-cache XDG_CACHE_HOME=/tmp/xdg
step() { echo "== $* ($(date +%T), ${SECONDS}s)"; }
step test; timeout -k 3 90 node --test dist/test/kernels-ffn.test.js > "$out/3-ffn-test.txt" 2>&1; echo "rc $?"; grep -E "^# (pass|fail|skip)|error" "$out/3-ffn-test.txt"
step graph test; timeout -k 3 60 node --test --test-name-pattern="fused feed-forward" dist/test/graph-replay.test.js > "$out/3-graph-test.txt" 2>&1; echo "rc $?"; grep -E "^# (pass|fail)|error" "$out/3-graph-test.txt"
step sweep; timeout -k 3 150 node docs/runs/2026-12-07/ffn-sweep.js packs/nvidia-h200-llama-3.2-1b-q4_0.kpack 15 > "$out/3-ffn-sweep.txt" 2>&1; echo "rc $?"; cat "$out/3-ffn-sweep.txt"
step done
