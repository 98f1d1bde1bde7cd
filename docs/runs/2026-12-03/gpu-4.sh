#!/usr/bin/env bash
# GPU call 4 of 2026-12-03 (call 3 hung in the HIP kernel tests past every timeout, so nothing came back):
# the same tests in the background with a hard kill, a progress line per variant, then a short q4_0 HIP
# sweep; the results are collected at fixed times whatever the processes do.
set -uo pipefail
out=${1:-/tmp/run}; mkdir -p "$out"
export NODE_PATH=$PWD/.gpu/node_modules KPACK_CACHE=/tmp/kpack-cache XDG_CACHE_HOME=/tmp/xdg
export KPACK_NVRTC_LIB=${KPACK_NVRTC_LIB:-$(ls /usr/local/cuda*/lib64/libnvrtc.so 2>/dev/null | head -1)}
KPACK_TEST_PROGRESS=1 timeout -k 5 ${HIPTEST_S:-100} node dist/test/hip-kernels.test.js > "$out/hip-kernels-test.txt" 2> "$out/hip-kernels-progress.txt" &
sleep $((${HIPTEST_S:-100} + 8))
grep -E "^# (tests|pass|fail)|^not ok|^ok|rel err" "$out/hip-kernels-test.txt" | head -20; tail -4 "$out/hip-kernels-progress.txt"
nvidia-smi --query-gpu=utilization.gpu,clocks.sm --format=csv > "$out/nvidia-smi.txt" 2>&1
MAX_S=50 timeout -k 5 70 node docs/runs/hip-sweep.js q4_0 24 > "$out/hip-sweep-q4_0.txt" 2>&1 &
sleep 75; tail -12 "$out/hip-sweep-q4_0.txt"
