#!/usr/bin/env bash
# GPU call 5 of the 2026-12-03c session: the dispatch floor with heat-ups, `autotune --backend all` for the
# 1B Q4_0 model warm-started from call 4's pack (Vulkan and HIP, both with heat-ups before the deciding
# timings), bench with that pack beside call 4's pack (Vulkan), and bench through HIP with it.
set -uo pipefail
[ -d dist-snap ] && { rm -rf dist; cp -a dist-snap dist; }
out=${1:-/tmp/run}; mkdir -p "$out"
export NODE_PATH=$PWD/.gpu/node_modules KPACK_CACHE=/tmp/kpack-cache XDG_CACHE_HOME=/tmp/xdg
export KPACK_VOCAB_GGUF=$PWD/.gpu/shared/vocab/ggml-vocab-llama-bpe.gguf
export KPACK_NVRTC_LIB=${KPACK_NVRTC_LIB:-$(ls /usr/local/cuda*/lib64/libnvrtc.so 2>/dev/null | head -1)}
K="node dist/bin/kpack.js"; m=/tmp/llama-3.2-1b-q4_0.gguf; prev=${PREV:-call4.kpack}
step() { echo "== $* ($(date +%T), ${SECONDS}s)"; }
nvidia-smi --query-gpu=timestamp,pstate,clocks.sm,clocks.mem,utilization.gpu,power.draw --format=csv -lms 200 > "$out/smi.csv" 2>&1 &
smi=$!
step dispatch floor; timeout -k 3 40 node docs/runs/dispatch-floor.js 200 > "$out/dispatch-floor.txt" 2>&1; cat "$out/dispatch-floor.txt"
step synth; timeout -k 3 60 $K synth --preset llama-3.2-1b --type q4_0 -o $m > "$out/synth.txt" 2>&1; tail -1 "$out/synth.txt"
step autotune all
pack="$out/llama-3.2-1b-q4_0.kpack"
KPACK_SUBMIT_TIMEOUT_S=20 timeout -k 5 ${TUNE_S:-340} $K autotune --preset llama-3.2-1b --weight-type q4_0 --batch 1,512 --depth 0,4096 --budget ${BUDGET:-130s} --backend all --warm-start-pack $prev --out "$pack" > "$out/autotune.txt" 2>&1
echo "rc $?"; grep -vE "^autotune: +\[|^\s*$" "$out/autotune.txt" | grep -v "workload [0-9]" | grep -v "hip: .*heat-up" | tail -48 | cut -c1-190
use="--pack $pack"; [ -f "$pack" ] || use="--pack $prev"
step bench new pack; timeout -k 5 ${BENCH_S:-60} $K bench -m $m $use --profile -p 512 -n 128 -d 0,4096 -r 2 > "$out/bench-new.txt" 2>&1; grep -v "^kpack: [0-9]" "$out/bench-new.txt" | head -40
step bench call-4 pack; timeout -k 5 ${PREV_S:-40} $K bench -m $m --pack $prev -p 512 -n 128 -d 0,4096 -r 2 > "$out/bench-prev.txt" 2>&1; grep -v "^kpack: [0-9]" "$out/bench-prev.txt" | head -12
step bench through HIP; timeout -k 5 ${HIPBENCH_S:-70} $K bench -m $m $use --backend hip -p 512 -n 128 -d 0,4096 -r 2 > "$out/bench-hip.txt" 2>&1; echo "rc $?"; grep -v "^kpack: [0-9]" "$out/bench-hip.txt" | head -14
step done
kill $smi 2>/dev/null; wait $smi 2>/dev/null
