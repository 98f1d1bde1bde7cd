#!/usr/bin/env bash
# Tune the packs in packs/ and bench them, on the GPU machine (see packs/README.md).
# Run from the repository root with the built tree present (dist/, build/Release) and:
#   .gpu/node_modules  production dependencies (NODE_PATH), and .gpu/shared/{models,vocab} (test data)
#   .gpu-peer          for compare1b: llama.cpp from npm, packed here by `packs/stage-peer.sh --xz vulkan`
# Usage: packs/tune-on-gpu.sh STAGE OUTDIR
#   STAGE: small | tune1b | bench1b | bench1b-q8 | check (the kernel tests on the GPU) | bench1b-types
#   (default kernels, TYPES="q4_0 q8_0 f16", profile of one decode step) | compare1b
# (compare1b: TYPES="q4_0 q4_k_m", PEERS=vulkan,cuda, DEPTHS=0,4096,16384: kpack's own untimed fill to 65536
#  takes minutes per case with today's prefill attention, past the 10-minute limit of one call; one TYPE per call)
# (BUDGET=4m sets the 1B autotune budget; PACK=FILE benches another pack; SKIP=ids leaves families out)
set -uo pipefail
stage=$1
out=$2
mkdir -p "$out"
export NODE_PATH=$PWD/.gpu/node_modules
export KPACK_VOCAB_GGUF=$PWD/.gpu/shared/vocab/ggml-vocab-llama-bpe.gguf
export KPACK_CACHE=/tmp/kpack-cache XDG_CACHE_HOME=/tmp/xdg
K="node dist/bin/kpack.js"
m1b=/tmp/llama-3.2-1b-f16.gguf
step() { echo "== $* ($(date +%T))"; }
case $stage in
small)
  step devices; $K devices | tee "$out/devices.txt"
  step convert; $K convert llama2c .gpu/shared/models/aidreams260K.bin .gpu/shared/models/tok512.bin -o /tmp/aidreams.gguf
  step autotune aidreams
  $K autotune --model /tmp/aidreams.gguf --batch 1,16 --depth 0,64 --budget 60s --out "$out/aidreams.kpack" ${SKIP:+--skip-family $SKIP} 2>&1 | tee "$out/autotune-aidreams.txt"
  step run; $K run -m /tmp/aidreams.gguf --pack "$out/aidreams.kpack" -p "Once upon a time" -n 48
  step bench; $K bench -m /tmp/aidreams.gguf --pack "$out/aidreams.kpack" -p 16 -n 32 -r 3 --vs-defaults | tee "$out/bench-aidreams.txt"
  ;;
tune1b)
  step synth; $K synth --preset llama-3.2-1b --type f16 -o $m1b
  step autotune 1b
  $K autotune --preset llama-3.2-1b --budget ${BUDGET:-5m} --out "$out/llama-3.2-1b-f16.kpack" ${SKIP:+--skip-family $SKIP} 2>&1 | tee "$out/autotune-1b.txt"
  ;;
bench1b)
  [ -f $m1b ] || $K synth --preset llama-3.2-1b --type f16 -o $m1b
  step bench 1b
  $K bench -m $m1b --pack "${PACK:-$out/llama-3.2-1b-f16.kpack}" -p 512 -n 128 -d 0,4096 -r 3 --vs-defaults --profile 2>&1 | tee "$out/bench-1b.txt"
  ;;
bench1b-q8)
  step synth q8_0; $K synth --preset llama-3.2-1b --type q8_0 -o /tmp/llama-3.2-1b-q8_0.gguf
  step bench 1b q8_0
  $K bench -m /tmp/llama-3.2-1b-q8_0.gguf --default-kernels -p 512 -n 128 -d 0 -r 2 --profile 2>&1 | tee "$out/bench-1b-q8_0.txt"
  ;;
check)
  step kernel tests on the GPU
  node --test --test-concurrency=1 ${TESTS:-dist/test/kernels-matmul.test.js dist/test/kernels-ops.test.js dist/test/kernels-attention.test.js dist/test/graph-replay.test.js} 2>&1 | tee "$out/check.txt" | grep -E "^# (tests|pass|fail|skipped)|not ok|rel err|Error" | head -60
  ;;
bench1b-types)
  for t in ${TYPES:-q4_0 q8_0 f16}; do
    step synth $t; $K synth --preset llama-3.2-1b --type $t -o /tmp/llama-3.2-1b-$t.gguf
    step bench 1b $t
    $K bench -m /tmp/llama-3.2-1b-$t.gguf ${PACK:+--pack $PACK} ${PACK:---default-kernels} -p 512 -n 128 -d ${DEPTHS:-0,4096} -r 2 --profile 2>&1 | tee "$out/bench-1b-$t.txt"
  done
  ;;
compare1b)
  [ -d .gpu-peer/node_modules ] || bash packs/stage-peer.sh --unpack
  for t in ${TYPES:-q4_0 q4_k_m}; do
    m=/tmp/llama-3.2-1b-$t.gguf
    [ -f $m ] || { step synth $t; $K synth --preset llama-3.2-1b --type $t -o $m; }
    step compare 1b $t
    $K bench -m $m --compare llama.cpp --peer-gpu ${PEERS:-vulkan,cuda} -p 512 -n 128 -d ${DEPTHS:-0,4096,16384} -r 3 -o jsonl > "$out/compare-1b-$t.jsonl"
  done
  ;;
esac
step done
