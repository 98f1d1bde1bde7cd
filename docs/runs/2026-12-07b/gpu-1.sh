#!/usr/bin/env bash
# GPU call 1 of session 2026-12-07b: where the decode step's time goes with a real search budget.
# 1. the ffn.vecq sweep (300 sampled points of the space, 10 ms each) against the unfused pair;
# 2. autotune llama-3.2-1b Q4_0 (batches 1,512, depths 0,4096) with a 5-minute budget, warm-started from the
#    shipped pack of this device kind; 3. bench of the new pack (with the decode-step profile) and the shipped one.
set -uo pipefail
out=${1:-/tmp/run}; mkdir -p "$out"
export NODE_PATH=$PWD/.gpu/node_modules KPACK_CACHE=/tmp/kpack-cache XDG_CACHE_HOME=/tmp/xdg
export KPACK_VOCAB_GGUF=$PWD/.gpu/shared/vocab/ggml-vocab-llama-bpe.gguf
K="node dist/bin/kpack.js"; m=/tmp/llama-3.2-1b-q4_0.gguf
step() { echo "== $* ($(date +%T), ${SECONDS}s)"; }
nvidia-smi --query-gpu=name,clocks.max.sm,clocks.sm --format=csv,noheader
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
case "$gpu" in *H100*) shipped=packs/nvidia-h100-llama-3.2-1b-q4_0.kpack;; *) shipped=packs/nvidia-h200-llama-3.2-1b-q4_0.kpack;; esac
step sweep; LIMIT=300 timeout -k 3 110 node docs/runs/2026-12-07/ffn-sweep.js $shipped 10 > "$out/1-ffn-sweep.txt" 2>&1; echo "rc $?"; cat "$out/1-ffn-sweep.txt"
step synth; timeout -k 3 60 $K synth --preset llama-3.2-1b --type q4_0 -o $m > "$out/1-synth.txt" 2>&1; tail -1 "$out/1-synth.txt"
step autotune; timeout -k 5 345 $K autotune --preset llama-3.2-1b --weight-type q4_0 --budget 290s --out "$out/1-new.kpack" > "$out/1-autotune.txt" 2>&1; echo "rc $?"; tail -5 "$out/1-autotune.txt"
[ -s "$out/1-new.kpack" ] && $K pack info "$out/1-new.kpack" | grep -E "N=1/|ffn/q4_0/dim|queries=1," | cut -c1-220
[ -s "$out/1-new.kpack" ] || exit 0
step bench new; timeout -k 5 60 $K bench -m $m --pack "$out/1-new.kpack" -p 512 -n 128 -d 0,4096 -r 3 --profile > "$out/1-bench-new.txt" 2>&1; grep -E "\| llama|GPU total|wall time| us  |ffn|matmul|attention" "$out/1-bench-new.txt" | head -40
step bench shipped; timeout -k 5 50 $K bench -m $m --pack $shipped -p 512 -n 128 -d 0,4096 -r 3 > "$out/1-bench-shipped.txt" 2>&1; grep -E "\| llama" "$out/1-bench-shipped.txt" | cut -c1-200
step done
