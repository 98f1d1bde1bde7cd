#!/usr/bin/env bash
# GPU call 1 of the 2026-12-07 session: ffn.vecq (the decode feed-forward in one dispatch) on the H200: the
# kernel tests, then the sweep and the chained comparison with the unfused pair (ffn-sweep.js).
set -uo pipefail
out=${1:-/tmp/run}; mkdir -p "$out"
export NODE_PATH=$PWD/.gpu/node_modules KPACK_CACHE=/tmp/kpack-cache XDG_CACHE_HOME=/tmp/xdg
step() { echo "== $* ($(date +%T), ${SECONDS}s)"; }
step test; timeout -k 3 120 node --test dist/test/kernels-ffn.test.js > "$out/1-ffn-test.txt" 2>&1; echo "rc $?"; grep -E "^# (pass|fail|skip)" "$out/1-ffn-test.txt"
step sweep; timeout -k 3 240 node docs/runs/2026-12-07/ffn-sweep.js > "$out/1-ffn-sweep.txt" 2>&1; echo "rc $?"; cat "$out/1-ffn-sweep.txt"
step done
