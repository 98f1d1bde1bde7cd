#!/usr/bin/env bash
# GPU call 1 of session 2026-12-07d: HIP matmul.coopmat numerics through NVRTC (mma.sync), then an autotune of
# llama-3.2-1b q4_0 warm-started from the shipped pack (its journal comes back if the call's limit cuts it, so
# the next call resumes it), then tg128 with the new pack, attention_o fusion on and off; last, chain.js (dependent
# dispatches without barriers; last because a wait that never ends would hold the GPU).
set -uo pipefail
out=${1:-/tmp/run}; mkdir -p "$out"
export NODE_PATH=$PWD/.gpu/node_modules KPACK_CACHE=/tmp/kpack-cache XDG_CACHE_HOME=/tmp/xdg
export KPACK_VOCAB_GGUF=$PWD/.gpu/shared/vocab/ggml-vocab-llama-bpe.gguf
K="node dist/bin/kpack.js"; m=/tmp/llama-3.2-1b-q4_0.gguf
step() { echo "== $* ($(date +%T), ${SECONDS}s)"; }
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1); echo "$gpu"
case "$gpu" in *H100*) shipped=packs/nvidia-h100-llama-3.2-1b-q4_0.kpack;; *) shipped=packs/nvidia-h200-llama-3.2-1b-q4_0.kpack;; esac
(timeout -k 3 60 $K synth --preset llama-3.2-1b --type q4_0 -o $m > "$out/synth.txt" 2>&1 &)
step hip coopmat; KPACK_TEST_PROGRESS=1 timeout -k 3 50 node --test --test-concurrency=1 --test-name-pattern="matmul\.coopmat" dist/test/hip-kernels.test.js > "$out/hip-coopmat.txt" 2>&1; echo "rc $?"; grep -E "^# (pass|fail|skip)|^ *not ok|rror" "$out/hip-coopmat.txt" | head -8
[ -n "${RESUME_JOURNAL:-}" ] && cp "$RESUME_JOURNAL" "$out/new.kpack.journal"
step autotune; timeout -k 5 ${AUTOTUNE_S:-330} $K autotune --preset llama-3.2-1b --weight-type q4_0 --budget 100s --warm-start-pack $shipped --out "$out/new.kpack" > "$out/autotune.txt" 2>&1; echo "rc $?"; tail -3 "$out/autotune.txt" | cut -c1-300
[ -s "$out/new.kpack" ] && $K pack info "$out/new.kpack" | grep -E "attention_o|queries=1," | cut -c1-220
new=$out/new.kpack; [ -s "$new" ] || new=$shipped
step bench; timeout -k 5 30 $K bench -m $m --pack "$new" -p 0 -n 128 -d 0,4096 -r 2 --profile > "$out/bench-new.txt" 2>&1; grep -E "\| llama|GPU total|attention" "$out/bench-new.txt" | head -12
step bench KPACK_FUSE_ATTN_O=0; KPACK_FUSE_ATTN_O=0 timeout -k 5 25 $K bench -m $m --pack "$new" -p 0 -n 128 -d 0,4096 -r 2 > "$out/bench-new-noattno.txt" 2>&1; grep -E "\| llama" "$out/bench-new-noattno.txt"
step bench KPACK_VK_BARRIER=full; KPACK_VK_BARRIER=full timeout -k 5 25 $K bench -m $m --pack "$new" -p 0 -n 128 -d 0,4096 -r 2 > "$out/bench-new-fullbarrier.txt" 2>&1; grep -E "\| llama" "$out/bench-new-fullbarrier.txt"
step chain; for b in stage full; do KPACK_VK_BARRIER=$b timeout -k 3 30 node docs/runs/2026-12-07d/chain.js 256 > "$out/chain-$b.txt" 2>&1; echo "rc $? barriers $b"; cat "$out/chain-$b.txt"; done
step done
