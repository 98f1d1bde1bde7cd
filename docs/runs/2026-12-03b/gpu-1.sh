#!/usr/bin/env bash
# GPU call 1 of the second 2026-12-03 session: the HIP kernel tests (verdict line per variant, hard
# kill), then `autotune --backend all` for the 1B Q4_0 model (Vulkan warm-started from the shipped pack,
# then the HIP ports through NVRTC), then bench with that pack (chained greedy tg; rope fused into the QKV GEMV and not) and with the shipped pack.
set -uo pipefail
# the build this script was written for (dist/ in the checkout is being rebuilt meanwhile)
[ -d dist-snap ] && { rm -rf dist; cp -a dist-snap dist; }
out=${1:-/tmp/run}; mkdir -p "$out"
export NODE_PATH=$PWD/.gpu/node_modules KPACK_CACHE=/tmp/kpack-cache XDG_CACHE_HOME=/tmp/xdg
export KPACK_VOCAB_GGUF=$PWD/.gpu/shared/vocab/ggml-vocab-llama-bpe.gguf
export KPACK_NVRTC_LIB=${KPACK_NVRTC_LIB:-$(ls /usr/local/cuda*/lib64/libnvrtc.so 2>/dev/null | head -1)}
K="node dist/bin/kpack.js"; m=/tmp/llama-3.2-1b-q4_0.gguf
step() { echo "== $* ($(date +%T), ${SECONDS}s)"; }
step devices; timeout -k 3 20 $K devices > "$out/devices.txt" 2>&1; head -12 "$out/devices.txt"
step hip kernel tests
KPACK_TEST_PROGRESS=1 timeout -k 5 ${HIPTEST_S:-110} node dist/test/hip-kernels.test.js > "$out/hip-kernels-test.txt" 2> "$out/hip-kernels-progress.txt"
echo "rc $?"; grep -c " ok" "$out/hip-kernels-progress.txt"; grep -iE "fail|error" "$out/hip-kernels-progress.txt" | head; tail -3 "$out/hip-kernels-progress.txt"; grep -E "^# (tests|pass|fail)" "$out/hip-kernels-test.txt"
step synth; timeout -k 3 60 $K synth --preset llama-3.2-1b --type q4_0 -o $m > "$out/synth.txt" 2>&1; tail -1 "$out/synth.txt"
step autotune all
pack="$out/llama-3.2-1b-q4_0.kpack"
KPACK_SUBMIT_TIMEOUT_S=20 timeout -k 5 ${TUNE_S:-250} $K autotune --preset llama-3.2-1b --weight-type q4_0 --batch 1,512 --depth 0,4096 --budget ${BUDGET:-100s} --backend all --out "$pack" > "$out/autotune.txt" 2>&1
echo "rc $?"; grep -vE "^autotune: +\[|^\s*$" "$out/autotune.txt" | tail -40 | cut -c1-170
use="--pack $pack"; [ -f "$pack" ] || use=--default-kernels
step bench new pack
timeout -k 5 120 $K bench -m $m $use --vs-defaults --profile -p 512 -n 128 -d 0 -r 2 > "$out/bench-new.txt" 2>&1; grep -v "^kpack: [0-9]" "$out/bench-new.txt" | head -60
step bench new pack, rope not fused
KPACK_FUSE_ROPE=0 timeout -k 5 60 $K bench -m $m $use --profile -p 0 -n 128 -d 0 -r 2 > "$out/bench-new-norope.txt" 2>&1; grep -v "^kpack: [0-9]" "$out/bench-new-norope.txt" | head -30
step bench shipped pack
timeout -k 5 ${SHIP_S:-50} $K bench -m $m --pack packs/nvidia-h200-llama-3.2-1b-q4_0.kpack --profile -p 512 -n 128 -d 0 -r 2 > "$out/bench-shipped.txt" 2>&1; grep -v "^kpack: [0-9]" "$out/bench-shipped.txt" | head -30
step done
