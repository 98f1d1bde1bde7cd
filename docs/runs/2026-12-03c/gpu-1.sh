#!/usr/bin/env bash
# GPU call 1 of the 2026-12-03c session: the HIP graph on the GPU (test: HIP vs Vulkan logits; bench of the
# 1B Q4_0 model through HIP), the attention.vec sweep (SPIR-V before / after KVU and the unrolled loops),
# the HIP kernel tests of the families other than matmul.vec (verdict line per variant, hard kill).
set -uo pipefail
[ -d dist-snap ] && { rm -rf dist; cp -a dist-snap dist; }
out=${1:-/tmp/run}; mkdir -p "$out"
export NODE_PATH=$PWD/.gpu/node_modules KPACK_CACHE=/tmp/kpack-cache XDG_CACHE_HOME=/tmp/xdg
export KPACK_VOCAB_GGUF=$PWD/.gpu/shared/vocab/ggml-vocab-llama-bpe.gguf
export KPACK_NVRTC_LIB=${KPACK_NVRTC_LIB:-$(ls /usr/local/cuda*/lib64/libnvrtc.so 2>/dev/null | head -1)}
K="node dist/bin/kpack.js"; m=/tmp/llama-3.2-1b-q4_0.gguf; pack=packs/nvidia-h200-llama-3.2-1b-q4_0.kpack
step() { echo "== $* ($(date +%T), ${SECONDS}s)"; }
step hip graph test
timeout -k 5 ${GRAPH_S:-100} node --test dist/test/hip-graph.test.js > "$out/hip-graph-test.txt" 2>&1; echo "rc $?"
grep -E "^# (tests|pass|fail|skipped)|^not ok|^ok|skip" "$out/hip-graph-test.txt" | head -20
step synth; timeout -k 3 60 $K synth --preset llama-3.2-1b --type q4_0 -o $m > "$out/synth.txt" 2>&1; tail -1 "$out/synth.txt"
step bench through HIP
timeout -k 5 ${HIPBENCH_S:-110} $K bench -m $m --pack $pack --backend hip -p 512 -n 128 -d 0,4096 -r 2 > "$out/bench-hip.txt" 2>&1; echo "rc $?"; grep -v "^kpack: [0-9]" "$out/bench-hip.txt" | head -30
step attention sweep
SAMPLES=${SAMPLES:-24} timeout -k 5 ${SWEEP_S:-110} node docs/runs/attn-sweep.js 25 > "$out/attn-sweep.txt" 2>&1; echo "rc $?"; grep -vE "^    KVU" "$out/attn-sweep.txt" | tail -45
step hip kernel tests, families other than matmul.vec
KPACK_TEST_PROGRESS=1 timeout -k 5 ${HIPTEST_S:-120} node --test-name-pattern="tile|attention|rms|rope|swiglu" dist/test/hip-kernels.test.js > "$out/hip-kernels-test.txt" 2> "$out/hip-kernels-progress.txt"
echo "rc $?"; grep -c " ok:" "$out/hip-kernels-progress.txt"; grep -iE "fail|error" "$out/hip-kernels-progress.txt" | head; tail -3 "$out/hip-kernels-progress.txt"; grep -E "^# (tests|pass|fail)" "$out/hip-kernels-test.txt"
step done
