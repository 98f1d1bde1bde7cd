#!/usr/bin/env bash
# GPU call 3 of 2026-12-03: the HIP kernels through NVRTC on the H200: the numerical tests
# (test/hip-kernels.test.ts, a progress line per variant), then docs/runs/hip-sweep.js for the q4_0 / q8_0
# anchor GEMV and the attention decode rows. Run from the repository root after . .device/prelude.sh.
set -uo pipefail
out=${1:-/tmp/run}; mkdir -p "$out"
export NODE_PATH=$PWD/.gpu/node_modules KPACK_CACHE=/tmp/kpack-cache XDG_CACHE_HOME=/tmp/xdg
export KPACK_NVRTC_LIB=${KPACK_NVRTC_LIB:-$(ls /usr/local/cuda*/lib64/libnvrtc.so 2>/dev/null | head -1)}
step() { echo "== $* ($(date +%T))"; }
step hip kernel tests
KPACK_TEST_PROGRESS=1 timeout ${HIPTEST_S:-230} node dist/test/hip-kernels.test.js > "$out/hip-kernels-test.txt" 2> "$out/hip-kernels-progress.txt"
echo "rc=$?"; grep -E "^# (tests|pass|fail|skipped)|^not ok|^ok|^    not ok|rel err" "$out/hip-kernels-test.txt" | head -30; tail -3 "$out/hip-kernels-progress.txt"
step hip sweep q4_0; MAX_S=100 timeout 130 node docs/runs/hip-sweep.js q4_0 40 2>&1 | tee "$out/hip-sweep-q4_0.txt" | tail -12
step hip sweep q8_0; MAX_S=60 timeout 80 node docs/runs/hip-sweep.js q8_0 24 2>&1 | tee "$out/hip-sweep-q8_0.txt" | tail -8
step hip sweep attention; MAX_S=60 timeout 80 node docs/runs/hip-sweep.js attention 24 2>&1 | tee "$out/hip-sweep-attention.txt" | tail -10
step done
