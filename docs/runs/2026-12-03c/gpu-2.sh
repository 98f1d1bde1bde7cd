#!/usr/bin/env bash
# GPU call 2 of the 2026-12-03c session: the dispatch floor (copy kernel, timed vs chained), the attention
# sweep of the parallel reduce pass (OLD = call 1's build, with KVU), then `autotune --backend all` for the
# 1B Q4_0 model (warm start from the shipped pack; the attention space now has KVU), bench with that pack
# at depths 0 and 4096 beside the shipped pack, and bench through HIP with it.
set -uo pipefail
[ -d dist-snap ] && { rm -rf dist; cp -a dist-snap dist; }
out=${1:-/tmp/run}; mkdir -p "$out"
export NODE_PATH=$PWD/.gpu/node_modules KPACK_CACHE=/tmp/kpack-cache XDG_CACHE_HOME=/tmp/xdg
export KPACK_VOCAB_GGUF=$PWD/.gpu/shared/vocab/ggml-vocab-llama-bpe.gguf
export KPACK_NVRTC_LIB=${KPACK_NVRTC_LIB:-$(ls /usr/local/cuda*/lib64/libnvrtc.so 2>/dev/null | head -1)}
K="node dist/bin/kpack.js"; m=/tmp/llama-3.2-1b-q4_0.gguf; shipped=packs/nvidia-h200-llama-3.2-1b-q4_0.kpack
step() { echo "== $* ($(date +%T), ${SECONDS}s)"; }
step dispatch floor; timeout -k 3 40 node docs/runs/dispatch-floor.js 200 > "$out/dispatch-floor.txt" 2>&1; cat "$out/dispatch-floor.txt"
step clocks; (nvidia-smi --query-gpu=clocks.sm,clocks.max.sm,clocks.mem,power.draw --format=csv 2>&1 | head -3) | tee "$out/clocks.txt"
step attention sweep
OLD_HAS_KVU=1 SAMPLES=${SAMPLES:-16} timeout -k 5 ${SWEEP_S:-80} node docs/runs/attn-sweep.js 25 > "$out/attn-sweep.txt" 2>&1; echo "rc $?"; tail -9 "$out/attn-sweep.txt"
step synth; timeout -k 3 60 $K synth --preset llama-3.2-1b --type q4_0 -o $m > "$out/synth.txt" 2>&1; tail -1 "$out/synth.txt"
step autotune all
pack="$out/llama-3.2-1b-q4_0.kpack"
KPACK_SUBMIT_TIMEOUT_S=20 timeout -k 5 ${TUNE_S:-230} $K autotune --preset llama-3.2-1b --weight-type q4_0 --batch 1,512 --depth 0,4096 --budget ${BUDGET:-80s} --backend all --out "$pack" > "$out/autotune.txt" 2>&1
echo "rc $?"; grep -vE "^autotune: +\[|^\s*$" "$out/autotune.txt" | tail -24 | cut -c1-170
use="--pack $pack"; [ -f "$pack" ] || use="--pack $shipped"
step bench new pack; timeout -k 5 ${BENCH_S:-90} $K bench -m $m $use --profile -p 512 -n 128 -d 0,4096 -r 2 > "$out/bench-new.txt" 2>&1; grep -v "^kpack: [0-9]" "$out/bench-new.txt" | head -70
step bench shipped pack; timeout -k 5 ${SHIP_S:-45} $K bench -m $m --pack $shipped -p 512 -n 128 -d 0,4096 -r 2 > "$out/bench-shipped.txt" 2>&1; grep -v "^kpack: [0-9]" "$out/bench-shipped.txt" | head -20
step bench through HIP; timeout -k 5 ${HIPBENCH_S:-70} $K bench -m $m $use --backend hip -p 512 -n 128 -d 0,4096 -r 2 > "$out/bench-hip.txt" 2>&1; echo "rc $?"; grep -v "^kpack: [0-9]" "$out/bench-hip.txt" | head -20
step done
