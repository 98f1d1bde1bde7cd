#!/usr/bin/env bash
# GPU call 2 of the 2026-12-07 session: ffn.vecq tests and sweep (ffn-sweep.js), then an autotune of
# llama-3.2-1b Q4_0 warm-started from the shipped pack (now with the ffn workload), then bench of that pack
# with and without the ffn fusion (KPACK_FUSE_FFN=0) and against the shipped one (same call), with the
# decode-step profile.
set -uo pipefail
out=${1:-/tmp/run}; mkdir -p "$out"
export NODE_PATH=$PWD/.gpu/node_modules KPACK_CACHE=/tmp/kpack-cache XDG_CACHE_HOME=/tmp/xdg
export KPACK_VOCAB_GGUF=$PWD/.gpu/shared/vocab/ggml-vocab-llama-bpe.gguf
K="node dist/bin/kpack.js"; m=/tmp/llama-3.2-1b-q4_0.gguf; shipped=packs/nvidia-h200-llama-3.2-1b-q4_0.kpack
step() { echo "== $* ($(date +%T), ${SECONDS}s)"; }
step test; timeout -k 3 90 node --test dist/test/kernels-ffn.test.js > "$out/2-ffn-test.txt" 2>&1; echo "rc $?"; grep -E "^# (pass|fail|skip)" "$out/2-ffn-test.txt"
step sweep; timeout -k 3 120 node docs/runs/2026-12-07/ffn-sweep.js $shipped 25 > "$out/2-ffn-sweep.txt" 2>&1; echo "rc $?"; cat "$out/2-ffn-sweep.txt"
step synth; timeout -k 3 60 $K synth --preset llama-3.2-1b --type q4_0 -o $m > "$out/2-synth.txt" 2>&1; tail -1 "$out/2-synth.txt"
step autotune; timeout -k 5 230 $K autotune --preset llama-3.2-1b --weight-type q4_0 --budget 150s --out "$out/2-new.kpack" > "$out/2-autotune.txt" 2>&1; echo "rc $?"; grep -E "ffn|dropped|kept" "$out/2-autotune.txt" | tail -8
[ -s "$out/2-new.kpack" ] || exit 0
step bench new; timeout -k 5 80 $K bench -m $m --pack "$out/2-new.kpack" -p 512 -n 128 -d 0,4096 -r 3 --profile > "$out/2-bench-new.txt" 2>&1; grep -E "\| llama|GPU total|wall time|ffn" "$out/2-bench-new.txt" | head -20
step bench new, KPACK_FUSE_FFN=0; KPACK_FUSE_FFN=0 timeout -k 5 60 $K bench -m $m --pack "$out/2-new.kpack" -p 512 -n 128 -d 0,4096 -r 3 > "$out/2-bench-new-nofuse.txt" 2>&1; grep -E "\| llama" "$out/2-bench-new-nofuse.txt"
step bench shipped; timeout -k 5 60 $K bench -m $m --pack $shipped -p 512 -n 128 -d 0,4096 -r 3 > "$out/2-bench-shipped.txt" 2>&1; grep -E "\| llama|error" "$out/2-bench-shipped.txt"
step done
