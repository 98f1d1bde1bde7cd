#!/usr/bin/env bash
# GPU call 1 of session 2026-12-08: a fresh autotune of llama-3.2-1b q4_0 warm-started from the shipped pack with
# --budget bounding the variant searches only (2026-12-07d's change; its journal comes back if the limit cuts it),
# then the new pack and the shipped one benched in the same call (pp512, tg128, depths 0 and 4096, --profile).
set -uo pipefail
out=${1:-/tmp/run}; mkdir -p "$out"
export NODE_PATH=$PWD/.gpu/node_modules KPACK_CACHE=/tmp/kpack-cache XDG_CACHE_HOME=/tmp/xdg
export KPACK_VOCAB_GGUF=$PWD/.gpu/shared/vocab/ggml-vocab-llama-bpe.gguf
K="node dist/bin/kpack.js"; m=/tmp/llama-3.2-1b-q4_0.gguf
step() { echo "== $* ($(date +%T), ${SECONDS}s)"; }
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1); echo "$gpu"
case "$gpu" in *H100*) shipped=packs/nvidia-h100-llama-3.2-1b-q4_0.kpack;; *) shipped=packs/nvidia-h200-llama-3.2-1b-q4_0.kpack;; esac
[ -s $m ] || (timeout -k 3 60 $K synth --preset llama-3.2-1b --type q4_0 -o $m > "$out/synth.txt" 2>&1 &)
[ -n "${RESUME_JOURNAL:-}" ] && cp "$RESUME_JOURNAL" "$out/new.kpack.journal"
step autotune; timeout -k 5 ${AUTOTUNE_S:-400} $K autotune --preset llama-3.2-1b --weight-type q4_0 --budget ${BUDGET:-150s} --warm-start-pack $shipped --out "$out/new.kpack" > "$out/autotune.txt" 2>&1; echo "rc $?"; tail -3 "$out/autotune.txt" | cut -c1-300
if [ -s "$out/new.kpack" ]; then
  rm -f "$out/new.kpack.journal"
  step bench new; timeout -k 5 60 $K bench -m $m --pack "$out/new.kpack" -p 512 -n 128 -d 0,4096 -r 3 --profile > "$out/bench-new.txt" 2>&1; grep -E "\| llama|GPU total" "$out/bench-new.txt" | head -12
  step bench shipped; timeout -k 5 60 $K bench -m $m --pack $shipped -p 512 -n 128 -d 0,4096 -r 3 --profile > "$out/bench-shipped.txt" 2>&1; grep -E "\| llama|GPU total" "$out/bench-shipped.txt" | head -12
fi
step done
