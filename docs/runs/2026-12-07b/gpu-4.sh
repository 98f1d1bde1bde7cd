#!/usr/bin/env bash
# GPU call 4 (the device time left after the failed starts of call 3 allowed ~2 minutes): the MERGE kernel tests
# on this GPU (built SPIR-V: attention.vec MERGE cases, argmax both ways), then tg128 with call 1's pack, whose
# argmax entry (launch contract 2) is stale, so the built default argmax (MERGE 1, one dispatch) runs.
set -uo pipefail
out=${1:-/tmp/run}; mkdir -p "$out"
export NODE_PATH=$PWD/.gpu/node_modules KPACK_CACHE=/tmp/kpack-cache XDG_CACHE_HOME=/tmp/xdg
export KPACK_VOCAB_GGUF=$PWD/.gpu/shared/vocab/ggml-vocab-llama-bpe.gguf
K="node dist/bin/kpack.js"; m=/tmp/llama-3.2-1b-q4_0.gguf; prev=packs/nvidia-h100-llama-3.2-1b-q4_0.kpack  # call 1's pack (1-new.kpack), shipped
step() { echo "== $* ($(date +%T), ${SECONDS}s)"; }
nvidia-smi --query-gpu=name --format=csv,noheader
step tests; timeout -k 3 40 node --test --test-name-pattern="MERGE|argmax" dist/test/kernels-attention.test.js dist/test/kernels-ops.test.js > "$out/4-tests.txt" 2>&1; echo "rc $?"; grep -E "^# (pass|fail|skip)|^ *not ok" "$out/4-tests.txt" | head
step synth; timeout -k 3 40 $K synth --preset llama-3.2-1b --type q4_0 -o $m > "$out/4-synth.txt" 2>&1; tail -1 "$out/4-synth.txt"
step bench; timeout -k 5 45 $K bench -m $m --pack $prev -p 0 -n 128 -d 0,4096 -r 2 --profile > "$out/4-bench.txt" 2>&1; grep -E "\| llama|GPU total|argmax|attention" "$out/4-bench.txt" | head -10
step done
