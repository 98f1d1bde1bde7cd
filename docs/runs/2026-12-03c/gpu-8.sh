#!/usr/bin/env bash
# GPU call 8 of the 2026-12-03c session: bench with the per-case warm-up (1.5 s): call 5's pack, the
# shipped pack, and call 5's pack through HIP, at depths 0 and 4096.
set -uo pipefail
[ -d dist-snap ] && { rm -rf dist; cp -a dist-snap dist; }
out=${1:-/tmp/run}; mkdir -p "$out"
export NODE_PATH=$PWD/.gpu/node_modules KPACK_CACHE=/tmp/kpack-cache XDG_CACHE_HOME=/tmp/xdg
export KPACK_VOCAB_GGUF=$PWD/.gpu/shared/vocab/ggml-vocab-llama-bpe.gguf
export KPACK_NVRTC_LIB=${KPACK_NVRTC_LIB:-$(ls /usr/local/cuda*/lib64/libnvrtc.so 2>/dev/null | head -1)}
K="node dist/bin/kpack.js"; m=/tmp/llama-3.2-1b-q4_0.gguf; pack=${PACK:-call5.kpack}; shipped=packs/nvidia-h200-llama-3.2-1b-q4_0.kpack
step() { echo "== $* ($(date +%T), ${SECONDS}s)"; }
step synth; timeout -k 3 60 $K synth --preset llama-3.2-1b --type q4_0 -o $m > "$out/synth.txt" 2>&1; tail -1 "$out/synth.txt"
step bench call-5 pack; timeout -k 5 70 $K bench -m $m --pack $pack -p 512 -n 128 -d 0,4096 -r 3 --profile > "$out/bench-new.txt" 2>&1; grep -E "\| llama|GPU total|wall time" "$out/bench-new.txt"
step bench shipped pack; timeout -k 5 50 $K bench -m $m --pack $shipped -p 512 -n 128 -d 0,4096 -r 3 > "$out/bench-shipped.txt" 2>&1; grep -E "\| llama" "$out/bench-shipped.txt"
step bench HIP; timeout -k 5 80 $K bench -m $m --pack $pack --backend hip -p 512 -n 128 -d 0,4096 -r 3 > "$out/bench-hip.txt" 2>&1; echo "rc $?"; grep -E "\| llama|backend" "$out/bench-hip.txt"
step done
