#!/usr/bin/env bash
# GPU call 6 of the 2026-12-03c session: stage-exact barriers (compute -> compute between dispatches) against
# the old full barriers (KPACK_VK_BARRIER=full) in one run: the dispatch floor and bench with call 5's pack.
set -uo pipefail
[ -d dist-snap ] && { rm -rf dist; cp -a dist-snap dist; }
out=${1:-/tmp/run}; mkdir -p "$out"
export NODE_PATH=$PWD/.gpu/node_modules KPACK_CACHE=/tmp/kpack-cache XDG_CACHE_HOME=/tmp/xdg
export KPACK_VOCAB_GGUF=$PWD/.gpu/shared/vocab/ggml-vocab-llama-bpe.gguf
K="node dist/bin/kpack.js"; m=/tmp/llama-3.2-1b-q4_0.gguf; pack=${PACK:-call5.kpack}
step() { echo "== $* ($(date +%T), ${SECONDS}s)"; }
for b in full exact full exact; do
  step dispatch floor, barriers $b
  KPACK_VK_BARRIER=$([ $b = full ] && echo full || echo exact) timeout -k 3 30 node docs/runs/dispatch-floor.js 200 > "$out/dispatch-floor-$b.txt" 2>&1; tail -5 "$out/dispatch-floor-$b.txt"
done
step synth; timeout -k 3 60 $K synth --preset llama-3.2-1b --type q4_0 -o $m > "$out/synth.txt" 2>&1; tail -1 "$out/synth.txt"
for b in full exact full exact; do
  step bench, barriers $b
  KPACK_VK_BARRIER=$([ $b = full ] && echo full || echo exact) timeout -k 5 45 $K bench -m $m --pack $pack -p 512 -n 128 -d 0,4096 -r 2 $([ $b = exact ] && echo --profile) >> "$out/bench-$b.txt" 2>&1
  grep -E "pp512|tg128|GPU total|wall time" "$out/bench-$b.txt" | tail -8
done
step done
