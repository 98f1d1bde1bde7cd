#!/usr/bin/env bash
# GPU call 3 of the 2026-12-03c session: the clock ramp (attention at depth 4096 from idle, timeVariant with
# and without the new settle phase), the dispatch floor again under the new timing, then `autotune`
# (Vulkan) for the 1B Q4_0 model with the new timing and the rope-fusion constraint (warm start from the
# shipped pack), bench with that pack at depths 0 and 4096 beside the shipped pack, and bench-ops.
set -uo pipefail
[ -d dist-snap ] && { rm -rf dist; cp -a dist-snap dist; }
out=${1:-/tmp/run}; mkdir -p "$out"
export NODE_PATH=$PWD/.gpu/node_modules KPACK_CACHE=/tmp/kpack-cache XDG_CACHE_HOME=/tmp/xdg
export KPACK_VOCAB_GGUF=$PWD/.gpu/shared/vocab/ggml-vocab-llama-bpe.gguf
K="node dist/bin/kpack.js"; m=/tmp/llama-3.2-1b-q4_0.gguf; shipped=packs/nvidia-h200-llama-3.2-1b-q4_0.kpack
step() { echo "== $* ($(date +%T), ${SECONDS}s)"; }
step clock ramp; timeout -k 3 40 node docs/runs/clock-ramp.js > "$out/clock-ramp.txt" 2>&1; cat "$out/clock-ramp.txt"
step dispatch floor; timeout -k 3 30 node docs/runs/dispatch-floor.js 200 > "$out/dispatch-floor.txt" 2>&1; cat "$out/dispatch-floor.txt"
step synth; timeout -k 3 60 $K synth --preset llama-3.2-1b --type q4_0 -o $m > "$out/synth.txt" 2>&1; tail -1 "$out/synth.txt"
step autotune
pack="$out/llama-3.2-1b-q4_0.kpack"
KPACK_SUBMIT_TIMEOUT_S=20 timeout -k 5 ${TUNE_S:-250} $K autotune --preset llama-3.2-1b --weight-type q4_0 --batch 1,512 --depth 0,4096 --budget ${BUDGET:-170s} --out "$pack" > "$out/autotune.txt" 2>&1
echo "rc $?"; grep -vE "^autotune: +\[|^\s*$" "$out/autotune.txt" | tail -30 | cut -c1-180
use="--pack $pack"; [ -f "$pack" ] || use="--pack $shipped"
step bench new pack; timeout -k 5 ${BENCH_S:-80} $K bench -m $m $use --profile -p 512 -n 128 -d 0,4096 -r 2 > "$out/bench-new.txt" 2>&1; grep -v "^kpack: [0-9]" "$out/bench-new.txt" | head -70
step bench shipped pack; timeout -k 5 ${SHIP_S:-45} $K bench -m $m --pack $shipped -p 512 -n 128 -d 0,4096 -r 2 > "$out/bench-shipped.txt" 2>&1; grep -v "^kpack: [0-9]" "$out/bench-shipped.txt" | head -20
step bench-ops; timeout -k 5 ${OPS_S:-70} $K bench-ops $use --row-time 400ms > "$out/bench-ops.txt" 2>&1; echo "rc $?"; tail -30 "$out/bench-ops.txt" | cut -c1-200
step done
