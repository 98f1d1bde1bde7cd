# Sourced by this folder's gpu-N.sh: strict mode, the output folder ($1, default /tmp/run), the staged node modules
# and vocabulary, the CLI, the synthetic model path, the shipped pack of this GPU (H100 or H200) and a step logger.
set -uo pipefail
out=${1:-/tmp/run}; mkdir -p "$out"
export NODE_PATH=$PWD/.gpu/node_modules KPACK_CACHE=/tmp/kpack-cache XDG_CACHE_HOME=/tmp/xdg
export KPACK_VOCAB_GGUF=$PWD/.gpu/shared/vocab/ggml-vocab-llama-bpe.gguf
K="node dist/bin/kpack.js"; m=/tmp/llama-3.2-1b-q4_0.gguf; new=packs/nvidia-h100-llama-3.2-1b-q4_0.kpack
step() { echo "== $* ($(date +%T), ${SECONDS}s)"; }
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1); echo "$gpu"
case "$gpu" in *H200*) new=packs/nvidia-h200-llama-3.2-1b-q4_0.kpack ;; esac
