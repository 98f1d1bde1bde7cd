#!/usr/bin/env bash
# GPU call 4 of the 2026-12-07 session: the ffn.vecq kernel and graph tests (built SPIR-V, no glslang there),
# the sweep (with PREFETCH), then an autotune of llama-3.2-1b Q4_0 (warm-started from the installed pack of
# the device, if any) and bench of that pack with and without the fusion (KPACK_FUSE_FFN=0) and of the shipped
# pack, with the decode-step profile.
set -uo pipefail
out=${1:-/tmp/run}; mkdir -p "$out"
export NODE_PATH=$PWD/.gpu/node_modules KPACK_CACHE=/tmp/kpack-cache XDG_CACHE_HOME=/tmp/xdg
export KPACK_VOCAB_GGUF=$PWD/.gpu/shared/vocab/ggml-vocab-llama-bpe.gguf
K="node dist/bin/kpack.js"; m=/tmp/llama-3.2-1b-q4_0.gguf; shipped=packs/nvidia-h200-llama-3.2-1b-q4_0.kpack
step() { echo "== $* ($(date +%T), ${SECONDS}s)"; }
step test; timeout -k 3 90 node --test dist/test/kernels-ffn.test.js > "$out/4-ffn-test.txt" 2>&1; echo "rc $?"; grep -E "^# (pass|fail|skip)|error" "$out/4-ffn-test.txt"
step graph test; timeout -k 3 60 node --test --test-name-pattern="fused feed-forward" dist/test/graph-replay.test.js > "$out/4-graph-test.txt" 2>&1; echo "rc $?"; grep -E "^# (pass|fail)|error" "$out/4-graph-test.txt"
step sweep; timeout -k 3 130 node docs/runs/2026-12-07/ffn-sweep.js $shipped 12 > "$out/4-ffn-sweep.txt" 2>&1; echo "rc $?"; cat "$out/4-ffn-sweep.txt"
step synth; timeout -k 3 60 $K synth --preset llama-3.2-1b --type q4_0 -o $m > "$out/4-synth.txt" 2>&1; tail -1 "$out/4-synth.txt"
step autotune; timeout -k 5 220 $K autotune --preset llama-3.2-1b --weight-type q4_0 --budget 140s --out "$out/4-new.kpack" > "$out/4-autotune.txt" 2>&1; echo "rc $?"; grep -E "ffn" "$out/4-autotune.txt" | tail -4
[ -s "$out/4-new.kpack" ] || exit 0
step bench new; timeout -k 5 60 $K bench -m $m --pack "$out/4-new.kpack" -p 512 -n 128 -d 0,4096 -r 3 --profile > "$out/4-bench-new.txt" 2>&1; grep -E "\| llama|GPU total|wall time|ffn" "$out/4-bench-new.txt" | head -12
step bench new, KPACK_FUSE_FFN=0; KPACK_FUSE_FFN=0 timeout -k 5 60 $K bench -m $m --pack "$out/4-new.kpack" -p 512 -n 128 -d 0,4096 -r 3 --profile > "$out/4-bench-new-nofuse.txt" 2>&1; grep -E "\| llama|GPU total" "$out/4-bench-new-nofuse.txt" | head -8
step bench shipped; timeout -k 5 60 $K bench -m $m --pack $shipped -p 512 -n 128 -d 0,4096 -r 3 > "$out/4-bench-shipped.txt" 2>&1; grep -E "\| llama|tuned for" "$out/4-bench-shipped.txt" | cut -c1-200
step done
