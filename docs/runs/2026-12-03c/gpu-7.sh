#!/usr/bin/env bash
# GPU call 7 of the 2026-12-03c session: the per-op split of a pp512 prompt batch and of a decode step at
# depths 0 and 4096 with call 5's pack (bench --profile).
set -uo pipefail
[ -d dist-snap ] && { rm -rf dist; cp -a dist-snap dist; }
out=${1:-/tmp/run}; mkdir -p "$out"
export NODE_PATH=$PWD/.gpu/node_modules KPACK_CACHE=/tmp/kpack-cache XDG_CACHE_HOME=/tmp/xdg
export KPACK_VOCAB_GGUF=$PWD/.gpu/shared/vocab/ggml-vocab-llama-bpe.gguf
K="node dist/bin/kpack.js"; m=/tmp/llama-3.2-1b-q4_0.gguf; pack=${PACK:-call5.kpack}
timeout -k 3 60 $K synth --preset llama-3.2-1b --type q4_0 -o $m > "$out/synth.txt" 2>&1; tail -1 "$out/synth.txt"
timeout -k 5 90 $K bench -m $m --pack $pack -p 512 -n 128 -d 0,4096 -r 3 --profile > "$out/bench-profile.txt" 2>&1; echo "rc $?"
grep -v "^kpack: [0-9]" "$out/bench-profile.txt"
