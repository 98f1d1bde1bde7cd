#!/usr/bin/env bash
# GPU call 2 of session 2026-12-07c: the kernel tests' summary, an autotune that finishes (call 1's was cut at
# workload 14/21), tg with attention_o on and off, the HIP matmul.coopmat numerics (call 1 lacked its template).
set -uo pipefail
out=${1:-/tmp/run}; mkdir -p "$out"
export NODE_PATH=$PWD/.gpu/node_modules KPACK_CACHE=/tmp/kpack-cache XDG_CACHE_HOME=/tmp/xdg
export KPACK_VOCAB_GGUF=$PWD/.gpu/shared/vocab/ggml-vocab-llama-bpe.gguf
K="node dist/bin/kpack.js"; m=/tmp/llama-3.2-1b-q4_0.gguf
step() { echo "== $* ($(date +%T), ${SECONDS}s)"; }
nvidia-smi --query-gpu=name --format=csv,noheader
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
case "$gpu" in *H100*) shipped=packs/nvidia-h100-llama-3.2-1b-q4_0.kpack;; *) shipped=packs/nvidia-h200-llama-3.2-1b-q4_0.kpack;; esac
(timeout -k 3 60 $K synth --preset llama-3.2-1b --type q4_0 -o $m > "$out/2-synth.txt" 2>&1 &)
step tests; timeout -k 3 45 node --test --test-name-pattern="MERGE|argmax|validation|attention_o" dist/test/kernels-attention.test.js dist/test/kernels-ops.test.js dist/test/kernels-attention-o.test.js dist/test/tuner-gpu.test.js > "$out/2-tests.txt" 2>&1; echo "rc $?"; grep -E "^# (tests|pass|fail|skip)|^ *not ok" "$out/2-tests.txt" | head
step autotune; timeout -k 5 300 $K autotune --preset llama-3.2-1b --weight-type q4_0 --budget 100s --warm-start-pack $shipped --out "$out/2-new.kpack" > "$out/2-autotune.txt" 2>&1; echo "rc $?"; tail -2 "$out/2-autotune.txt"
[ -s "$out/2-new.kpack" ] && $K pack info "$out/2-new.kpack" | grep -E "attention_o|queries=1," | cut -c1-220
new=$out/2-new.kpack; [ -s "$new" ] || new=$shipped
step bench new; timeout -k 5 30 $K bench -m $m --pack "$new" -p 0 -n 128 -d 0,4096 -r 2 --profile > "$out/2-bench-new.txt" 2>&1; grep -E "\| llama|GPU total|attention" "$out/2-bench-new.txt" | head -12
step bench new KPACK_FUSE_ATTN_O=0; KPACK_FUSE_ATTN_O=0 timeout -k 5 25 $K bench -m $m --pack "$new" -p 0 -n 128 -d 0,4096 -r 2 > "$out/2-bench-new-noattno.txt" 2>&1; grep -E "\| llama" "$out/2-bench-new-noattno.txt"
step hip coopmat; KPACK_TEST_PROGRESS=1 timeout -k 3 60 node --test --test-concurrency=1 --test-name-pattern="matmul\.coopmat" dist/test/hip-kernels.test.js > "$out/2-hip-coopmat.txt" 2>&1; echo "rc $?"; grep -E "^# (pass|fail|skip)|^ *not ok|error:" "$out/2-hip-coopmat.txt" | head -8
step done
