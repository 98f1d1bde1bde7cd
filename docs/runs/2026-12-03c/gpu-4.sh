#!/usr/bin/env bash
# GPU call 4 of the 2026-12-03c session: nvidia-smi sampled every 100 ms through the whole call (clocks,
# utilization, power, P-state, throttle reasons), the clock ramp again (timeVariant alone and after
# heatUp), autotune (Vulkan, 1B Q4_0, heat-up before each bucket's deciding timings, warm start from the
# shipped pack), bench with that pack at depths 0 and 4096 beside the shipped pack.
set -uo pipefail
[ -d dist-snap ] && { rm -rf dist; cp -a dist-snap dist; }
out=${1:-/tmp/run}; mkdir -p "$out"
export NODE_PATH=$PWD/.gpu/node_modules KPACK_CACHE=/tmp/kpack-cache XDG_CACHE_HOME=/tmp/xdg
export KPACK_VOCAB_GGUF=$PWD/.gpu/shared/vocab/ggml-vocab-llama-bpe.gguf
K="node dist/bin/kpack.js"; m=/tmp/llama-3.2-1b-q4_0.gguf; shipped=packs/nvidia-h200-llama-3.2-1b-q4_0.kpack
step() { echo "== $* ($(date +%T.%3N), ${SECONDS}s)" | tee -a "$out/steps.txt"; }
nvidia-smi > "$out/smi-snapshot.txt" 2>&1
nvidia-smi --query-gpu=timestamp,pstate,clocks.sm,clocks.mem,utilization.gpu,utilization.memory,power.draw,clocks_throttle_reasons.active --format=csv -lms 100 > "$out/smi.csv" 2>&1 &
smi=$!
step clock ramp; timeout -k 3 40 node docs/runs/clock-ramp.js > "$out/clock-ramp.txt" 2>&1; cat "$out/clock-ramp.txt"
step synth; timeout -k 3 60 $K synth --preset llama-3.2-1b --type q4_0 -o $m > "$out/synth.txt" 2>&1; tail -1 "$out/synth.txt"
step autotune
pack="$out/llama-3.2-1b-q4_0.kpack"
KPACK_SUBMIT_TIMEOUT_S=20 timeout -k 5 ${TUNE_S:-280} $K autotune --preset llama-3.2-1b --weight-type q4_0 --batch 1,512 --depth 0,4096 --budget ${BUDGET:-170s} --out "$pack" > "$out/autotune.txt" 2>&1
echo "rc $?"; grep -vE "^autotune: +\[|^\s*$" "$out/autotune.txt" | grep -v "workload [0-9]" | tail -40 | cut -c1-190
use="--pack $pack"; [ -f "$pack" ] || use="--pack $shipped"
step bench new pack; timeout -k 5 ${BENCH_S:-80} $K bench -m $m $use --profile -p 512 -n 128 -d 0,4096 -r 2 > "$out/bench-new.txt" 2>&1; grep -v "^kpack: [0-9]" "$out/bench-new.txt" | head -40
step bench shipped pack; timeout -k 5 ${SHIP_S:-45} $K bench -m $m --pack $shipped -p 512 -n 128 -d 0,4096 -r 2 > "$out/bench-shipped.txt" 2>&1; grep -v "^kpack: [0-9]" "$out/bench-shipped.txt" | head -12
step done
kill $smi 2>/dev/null; wait $smi 2>/dev/null
awk -F', ' 'NR>1 {print $2, $3, $4}' "$out/smi.csv" | sort | uniq -c | sort -rn | head -12
