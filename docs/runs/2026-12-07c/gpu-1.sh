#!/usr/bin/env bash
# GPU call 1 of session 2026-12-07c: last session's lavapipe-only work and this session's fusion on NVIDIA.
# In priority order (the call is cut at 600 s; outputs so far come back):
# 1. kernel tests on this GPU (built SPIR-V): attention.vec MERGE, argmax MERGE, attention_o.vec, validation;
# 2. dispatch-gap.js: per-dispatch cost with and without barriers;
# 3. attn-o.js: attention_o.vec (attention + O projection + residual, one dispatch) against the shipped pack's
#    attention.vec + O GEMV, 16 layers per submission, depths 0 and 4096;
# 4. autotune llama-3.2-1b Q4_0 (default batches and depths) warm-started from the shipped pack of this device
#    kind (new in the spaces: attention.vec KV_CHUNK 32/64 x MERGE, matmul.vecq PREFETCH, ffn seeds, attention_o);
# 5. the new pack against llama.cpp (node-llama-cpp Vulkan) in the same process; the new pack's profile, and the
#    new pack with KPACK_FUSE_ATTN_O=0; 6. the HIP matmul.coopmat (mma.sync) tests through NVRTC.
set -uo pipefail
out=${1:-/tmp/run}; mkdir -p "$out"
export NODE_PATH=$PWD/.gpu/node_modules KPACK_CACHE=/tmp/kpack-cache XDG_CACHE_HOME=/tmp/xdg
export KPACK_VOCAB_GGUF=$PWD/.gpu/shared/vocab/ggml-vocab-llama-bpe.gguf
K="node dist/bin/kpack.js"; m=/tmp/llama-3.2-1b-q4_0.gguf
step() { echo "== $* ($(date +%T), ${SECONDS}s)"; }
nvidia-smi --query-gpu=name,clocks.max.sm --format=csv,noheader
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
case "$gpu" in *H100*) shipped=packs/nvidia-h100-llama-3.2-1b-q4_0.kpack;; *) shipped=packs/nvidia-h200-llama-3.2-1b-q4_0.kpack;; esac
(bash packs/stage-peer.sh --unpack > "$out/1-peer.txt" 2>&1 &)
(timeout -k 3 60 $K synth --preset llama-3.2-1b --type q4_0 -o $m > "$out/1-synth.txt" 2>&1 &)
step tests; timeout -k 3 50 node --test --test-name-pattern="MERGE|argmax|validation|attention_o" dist/test/kernels-attention.test.js dist/test/kernels-ops.test.js dist/test/kernels-attention-o.test.js dist/test/tuner-gpu.test.js > "$out/1-tests.txt" 2>&1; echo "rc $?"; grep -E "^# (pass|fail|skip)|^ *not ok" "$out/1-tests.txt" | head
step dispatch gap; timeout -k 3 30 node docs/runs/2026-12-07c/dispatch-gap.js 256 > "$out/1-dispatch-gap.txt" 2>&1; cat "$out/1-dispatch-gap.txt"
step attn-o; timeout -k 3 60 node docs/runs/2026-12-07c/attn-o.js --pack $shipped --depths 0,4096 --ms 400 --reps 20 > "$out/1-attn-o.txt" 2>&1; echo "rc $?"; grep -E "==|unfused|best" "$out/1-attn-o.txt"
tail -1 "$out/1-synth.txt"
step autotune; timeout -k 5 200 $K autotune --preset llama-3.2-1b --weight-type q4_0 --budget 150s --warm-start-pack $shipped --out "$out/1-new.kpack" > "$out/1-autotune.txt" 2>&1; echo "rc $?"; tail -2 "$out/1-autotune.txt"
[ -s "$out/1-new.kpack" ] && $K pack info "$out/1-new.kpack" | grep -E "N=1 |ffn/q4_0/dim|queries=1,|argmax|attention_o" | cut -c1-200
new=$out/1-new.kpack; [ -s "$new" ] || new=$shipped
cat "$out/1-peer.txt"
step compare; timeout -k 5 130 $K bench -m $m --pack "$new" --compare llama.cpp --peer-gpu vulkan -p 512 -n 128 -d 0,4096 -r 3 -o jsonl > "$out/1-compare.jsonl" 2> "$out/1-compare.err"; echo "rc $?"; tail -12 "$out/1-compare.err"; cat "$out/1-compare.jsonl" | cut -c1-300
step bench new; timeout -k 5 35 $K bench -m $m --pack "$new" -p 0 -n 128 -d 0,4096 -r 2 --profile > "$out/1-bench-new.txt" 2>&1; grep -E "\| llama|GPU total|wall time|attention|argmax|ffn|M=2048 K=2048" "$out/1-bench-new.txt" | head -24
step bench new unfused attn_o; KPACK_FUSE_ATTN_O=0 timeout -k 5 25 $K bench -m $m --pack "$new" -p 0 -n 128 -d 0,4096 -r 2 > "$out/1-bench-new-noattno.txt" 2>&1; grep -E "\| llama" "$out/1-bench-new-noattno.txt"
step hip coopmat; KPACK_TEST_PROGRESS=1 timeout -k 3 60 node --test --test-concurrency=1 --test-name-pattern="matmul\.coopmat" dist/test/hip-kernels.test.js > "$out/1-hip-coopmat.txt" 2>&1; echo "rc $?"; grep -E "^# (pass|fail|skip)|^ *not ok" "$out/1-hip-coopmat.txt" | head
step done
