#!/usr/bin/env bash
# GPU call 3 of session 2026-12-07d (the machine call 2 left warm): resume call 2's autotune from its journal,
# bench the pack it writes, then the argmax sweep at 5 ms per point.
set -uo pipefail
out=${1:-/tmp/run}; mkdir -p "$out"
export NODE_PATH=$PWD/.gpu/node_modules KPACK_CACHE=/tmp/kpack-cache XDG_CACHE_HOME=/tmp/xdg
export KPACK_VOCAB_GGUF=$PWD/.gpu/shared/vocab/ggml-vocab-llama-bpe.gguf
K="node dist/bin/kpack.js"; m=/tmp/llama-3.2-1b-q4_0.gguf; here=docs/runs/2026-12-07d
step() { echo "== $* ($(date +%T), ${SECONDS}s)"; }
[ -s $m ] || (timeout -k 3 60 $K synth --preset llama-3.2-1b --type q4_0 -o $m > /tmp/synth.txt 2>&1 &)
cp $here/2-new2.kpack.journal "$out/new2.kpack.journal"
step autotune resume; timeout -k 5 170 $K autotune --preset llama-3.2-1b --weight-type q4_0 --budget 120s --warm-start-pack $here/1-new.kpack --out "$out/new2.kpack" > "$out/autotune.txt" 2>&1; echo "rc $?"; tail -2 "$out/autotune.txt" | cut -c1-200
if [ -s "$out/new2.kpack" ]; then rm -f "$out/new2.kpack.journal"; step bench new2; timeout -k 5 45 $K bench -m $m --pack "$out/new2.kpack" -p 512 -n 128 -d 0,4096 -r 3 --profile > "$out/bench-new2.txt" 2>&1; grep -E "\| llama|GPU total|argmax" "$out/bench-new2.txt"; fi
step argmax; timeout -k 3 60 node $here/argmax-sweep.js 5 > "$out/argmax.txt" 2>&1; echo "rc $?"; head -10 "$out/argmax.txt"; tail -1 "$out/argmax.txt"
step done
