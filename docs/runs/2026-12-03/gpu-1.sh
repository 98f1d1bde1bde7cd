#!/usr/bin/env bash
# GPU call 1 of 2026-12-03: matmul.vecq BQ (B quantized once into scratch) and the HIP kernel tests on the
# H200, then the GEMV sweeps of matmul.vecq. Run from the repository root after . .device/prelude.sh.
set -uo pipefail
out=${1:-/tmp/run}; mkdir -p "$out"
export NODE_PATH=$PWD/.gpu/node_modules KPACK_CACHE=/tmp/kpack-cache XDG_CACHE_HOME=/tmp/xdg
export KPACK_NVRTC_LIB=${KPACK_NVRTC_LIB:-$(ls /usr/local/cuda*/lib64/libnvrtc.so 2>/dev/null | head -1)}
step() { echo "== $* ($(date +%T))"; }
step devices; node dist/bin/kpack.js devices
step vecq tests; timeout 120 node --test dist/test/kernels-matmul-vecq.test.js > "$out/vecq-test.txt" 2>&1
grep -E "^# (tests|pass|fail|skipped)|not ok|rel err" "$out/vecq-test.txt" | head -20
step hip kernel tests; timeout 170 node --test dist/test/hip-kernels.test.js > "$out/hip-kernels-test.txt" 2>&1
grep -E "^# (tests|pass|fail|skipped)|not ok|rel err|Error" "$out/hip-kernels-test.txt" | head -30
step vecq sweep; FAMILY=matmul.vecq SHAPES=3 timeout 250 node docs/runs/gemv-sweep.js q4_0,q8_0 100 2>&1 | tee "$out/vecq-sweep.txt"
step done
