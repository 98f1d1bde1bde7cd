#!/usr/bin/env bash
# GPU call 2 of session 2026-12-08 (prepared, not run: the loans were paused). On an H100: call 1's pack (shipped as
# packs/nvidia-h100-llama-3.2-1b-q4_0.kpack in 3d5f1e9) after the attention_o depth fix (cf63625), with --profile,
# and the pack it replaced in the same call (PREV, default .gpu/prev.kpack: stage it here with
# `git show 31df110:packs/nvidia-h100-llama-3.2-1b-q4_0.kpack > .gpu/prev.kpack`); record-time.js (a prompt
# step's recording vs submit and wait, blocking and polling the fence: KPACK_VK_SPIN_US).
# On an H200: the shipped H200 pack with this build (bench, --profile), record-time.js. Last, where dist/kernels/hip
# and build/Release/kpack_hip.node are carried, the HIP MERGE 1 port's numerics through NVRTC (>= 300 s).
set -uo pipefail
out=${1:-/tmp/run}; mkdir -p "$out"
export NODE_PATH=$PWD/.gpu/node_modules KPACK_CACHE=/tmp/kpack-cache XDG_CACHE_HOME=/tmp/xdg
export KPACK_VOCAB_GGUF=$PWD/.gpu/shared/vocab/ggml-vocab-llama-bpe.gguf
K="node dist/bin/kpack.js"; m=/tmp/llama-3.2-1b-q4_0.gguf; here=docs/runs/2026-12-08; new=packs/nvidia-h100-llama-3.2-1b-q4_0.kpack
step() { echo "== $* ($(date +%T), ${SECONDS}s)"; }
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1); echo "$gpu"
case "$gpu" in
*H200*) new=packs/nvidia-h200-llama-3.2-1b-q4_0.kpack; shipped= ;;
*) shipped=${PREV:-.gpu/prev.kpack} ;;
esac
timeout -k 3 60 $K synth --preset llama-3.2-1b --type q4_0 -o $m > /tmp/synth.txt 2>&1
step bench new; timeout -k 5 60 $K bench -m $m --pack $new -p 512 -n 128 -d 0,4096 -r 3 --profile > "$out/bench-new.txt" 2>&1; grep -E "\| llama|GPU total|split|wall" "$out/bench-new.txt" | head -16
[ -n "$shipped" ] && { step bench shipped; timeout -k 5 40 $K bench -m $m --pack $shipped -p 512 -n 128 -d 0,4096 -r 3 > "$out/bench-shipped.txt" 2>&1; grep -E "\| llama" "$out/bench-shipped.txt"; }
for sp in 0 50000; do step record-time KPACK_VK_SPIN_US=$sp; KPACK_VK_SPIN_US=$sp timeout -k 5 40 node $here/record-time.js $m $new 512 10 > "$out/record-time-$sp.txt" 2>&1; echo "rc $?"; tail -1 "$out/record-time-$sp.txt"; done
step bench KPACK_VK_SPIN_US=50000; KPACK_VK_SPIN_US=50000 timeout -k 5 40 $K bench -m $m --pack $new -p 512 -n 128 -d 0,4096 -r 3 > "$out/bench-new-spin.txt" 2>&1; grep -E "\| llama" "$out/bench-new-spin.txt"
[ -d dist/kernels/hip ] && [ -f build/Release/kpack_hip.node ] && { step hip merge; KPACK_TEST_PROGRESS=1 timeout -k 3 ${HIP_S:-300} node --test --test-concurrency=1 --test-name-pattern="argmax|attention\.vec" dist/test/hip-kernels.test.js > "$out/hip-merge.txt" 2>&1; echo "rc $?"; grep -E "^# (pass|fail|skip)|^ *not ok" "$out/hip-merge.txt" | head -20; }
step done
