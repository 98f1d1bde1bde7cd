#!/usr/bin/env bash
# GPU call 3: attention.vec with KV_CHUNK 32 / 64 and MERGE (the last split merges: no reduce dispatch),
# matmul.vecq PREFETCH in their spaces, argmax MERGE 1 by default. The MERGE kernel tests on this GPU (built
# SPIR-V), then a decode-only autotune (--batch 1) warm-started from call 1's pack, then tg bench of both packs.
set -uo pipefail
out=${1:-/tmp/run}; mkdir -p "$out"
export NODE_PATH=$PWD/.gpu/node_modules KPACK_CACHE=/tmp/kpack-cache XDG_CACHE_HOME=/tmp/xdg
export KPACK_VOCAB_GGUF=$PWD/.gpu/shared/vocab/ggml-vocab-llama-bpe.gguf
K="node dist/bin/kpack.js"; m=/tmp/llama-3.2-1b-q4_0.gguf; prev=packs/nvidia-h100-llama-3.2-1b-q4_0.kpack  # call 1's pack (1-new.kpack), shipped
step() { echo "== $* ($(date +%T), ${SECONDS}s)"; }
nvidia-smi --query-gpu=name --format=csv,noheader
step tests; timeout -k 3 30 node --test --test-name-pattern="MERGE|argmax" dist/test/kernels-attention.test.js dist/test/kernels-ops.test.js > "$out/3-tests.txt" 2>&1; echo "rc $?"; grep -E "^# (pass|fail|skip)|^ *not ok" "$out/3-tests.txt" | head
step synth; timeout -k 3 40 $K synth --preset llama-3.2-1b --type q4_0 -o $m > "$out/3-synth.txt" 2>&1; tail -1 "$out/3-synth.txt"
step autotune; timeout -k 5 140 $K autotune --preset llama-3.2-1b --weight-type q4_0 --batch 1 --budget 100s --warm-start-pack $prev --out "$out/3-new.kpack" > "$out/3-autotune.txt" 2>&1; echo "rc $?"; tail -2 "$out/3-autotune.txt"
[ -s "$out/3-new.kpack" ] && $K pack info "$out/3-new.kpack" | grep -E "N=1 |ffn/q4_0/dim|queries=1," | cut -c1-200
[ -s "$out/3-new.kpack" ] || exit 0
step bench new; timeout -k 5 50 $K bench -m $m --pack "$out/3-new.kpack" -p 0 -n 128 -d 0,4096 -r 2 --profile > "$out/3-bench-new.txt" 2>&1; grep -E "\| llama|GPU total|wall time|attention|argmax" "$out/3-bench-new.txt" | head -16
step bench prev; timeout -k 5 40 $K bench -m $m --pack $prev -p 0 -n 128 -d 0,4096 -r 2 > "$out/3-bench-prev.txt" 2>&1; grep -E "\| llama" "$out/3-bench-prev.txt"
step done
