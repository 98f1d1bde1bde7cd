#!/usr/bin/env bash
# GPU call 2 of session 2026-12-07d (stage-exact barriers, ec9b599): the argmax sweep; call 1's pack (1-new.kpack)
# beside llama.cpp Vulkan in one run; the shipped pack under the same build; an autotune refining 1-new.kpack
# (warm start) and its bench.
set -uo pipefail
out=${1:-/tmp/run}; mkdir -p "$out"
export NODE_PATH=$PWD/.gpu/node_modules KPACK_CACHE=/tmp/kpack-cache XDG_CACHE_HOME=/tmp/xdg
export KPACK_VOCAB_GGUF=$PWD/.gpu/shared/vocab/ggml-vocab-llama-bpe.gguf
K="node dist/bin/kpack.js"; m=/tmp/llama-3.2-1b-q4_0.gguf; here=docs/runs/2026-12-07d
step() { echo "== $* ($(date +%T), ${SECONDS}s)"; }
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1); echo "$gpu"
case "$gpu" in *H100*) shipped=packs/nvidia-h100-llama-3.2-1b-q4_0.kpack;; *) shipped=packs/nvidia-h200-llama-3.2-1b-q4_0.kpack;; esac
(timeout -k 3 60 $K synth --preset llama-3.2-1b --type q4_0 -o $m > /tmp/synth.txt 2>&1 &)
(bash packs/stage-peer.sh --unpack > /tmp/peer.txt 2>&1 &)
step argmax; timeout -k 3 40 node $here/argmax-sweep.js 20 > "$out/argmax.txt" 2>&1; echo "rc $?"; head -8 "$out/argmax.txt"; tail -1 "$out/argmax.txt"
cat /tmp/peer.txt /tmp/synth.txt | tail -3
step compare; timeout -k 5 150 $K bench -m $m --pack $here/1-new.kpack --compare llama.cpp --peer-gpu vulkan -p 512 -n 128 -d 0,4096 -r 3 -o jsonl > "$out/compare.jsonl" 2> "$out/compare.err"; echo "rc $?"; tail -14 "$out/compare.err"
step shipped; timeout -k 5 50 $K bench -m $m --pack $shipped -p 512 -n 128 -d 0,4096 -r 3 > "$out/bench-shipped.txt" 2>&1; grep -E "\| llama" "$out/bench-shipped.txt"
step autotune; timeout -k 5 ${AUTOTUNE_S:-220} $K autotune --preset llama-3.2-1b --weight-type q4_0 --budget 120s --warm-start-pack $here/1-new.kpack --out "$out/new2.kpack" > "$out/autotune.txt" 2>&1; echo "rc $?"; tail -2 "$out/autotune.txt" | cut -c1-200
if [ -s "$out/new2.kpack" ]; then step bench new2; timeout -k 5 50 $K bench -m $m --pack "$out/new2.kpack" -p 512 -n 128 -d 0,4096 -r 3 --profile > "$out/bench-new2.txt" 2>&1; grep -E "\| llama|GPU total|argmax" "$out/bench-new2.txt"; fi
step done
