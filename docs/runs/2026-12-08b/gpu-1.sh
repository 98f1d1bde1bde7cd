#!/usr/bin/env bash
# GPU call 1 of the next session (prepared in session 2026-12-08b, which got no GPU: loans paused).
# Its first half is the call 2026-12-08 prepared and never ran. On an H100:
#  1. the shipped pack (packs/nvidia-h100-llama-3.2-1b-q4_0.kpack) after the attention_o depth fix (cf63625),
#     bench with --profile, and the pack it replaced (PREV, default .gpu/prev.kpack: stage it with
#     `git show 31df110:packs/nvidia-h100-llama-3.2-1b-q4_0.kpack > .gpu/prev.kpack`) in the same call;
#  2. the q8_0 K/V cache with the same pack (its attention entries are f16, so q8_0 attention runs the built-in
#     defaults) at depths 0, 4096, 16384, beside f16 at 16384;
#  3. bench-ops on the K/V q8_0 and q4_0 anchor rows and their f16 neighbours;
#  4. record-time.js blocking vs polling the fence (KPACK_VK_SPIN_US).
# On an H200 the same with the shipped H200 pack (no PREV).
. docs/runs/2026-12-08b/env.sh "$@"
case "$gpu" in
*H200*) shipped= ;;
*) shipped=${PREV:-.gpu/prev.kpack}; [ -f "$shipped" ] || shipped= ;;
esac
timeout -k 3 60 $K synth --preset llama-3.2-1b --type q4_0 -o $m > /tmp/synth.txt 2>&1
step bench new; timeout -k 5 60 $K bench -m $m --pack $new -p 512 -n 128 -d 0,4096 -r 3 --profile > "$out/bench-new.txt" 2>&1; grep -E "\| llama|GPU total|split|wall" "$out/bench-new.txt" | head -16
[ -n "$shipped" ] && { step bench shipped; timeout -k 5 40 $K bench -m $m --pack $shipped -p 512 -n 128 -d 0,4096 -r 3 > "$out/bench-shipped.txt" 2>&1; grep -E "\| llama" "$out/bench-shipped.txt"; }
step bench q8_0 K/V; timeout -k 5 90 $K bench -m $m --pack $new --kv-type q8_0 -p 512 -n 128 -d 0,4096,16384 -r 3 --profile > "$out/bench-q8kv.txt" 2>&1; echo "rc $?"; grep -E "\| llama|GPU total|split" "$out/bench-q8kv.txt" | head -16
step bench f16 K/V d16384; timeout -k 5 60 $K bench -m $m --pack $new -p 512 -n 128 -d 16384 -r 3 > "$out/bench-f16kv-16k.txt" 2>&1; grep -E "\| llama" "$out/bench-f16kv-16k.txt"
step bench-ops; timeout -k 5 100 $K bench-ops --pack $new --filter "attn (q8_0|q4_0|f16 D=64 nh=8 r=8)" --row-time 2s > "$out/bench-ops-kv.txt" 2>&1; echo "rc $?"; grep -E "^\| attn|^copy" "$out/bench-ops-kv.txt"
for sp in 0 50000; do step record-time KPACK_VK_SPIN_US=$sp; KPACK_VK_SPIN_US=$sp timeout -k 5 40 node docs/runs/2026-12-08/record-time.js $m $new 512 10 > "$out/record-time-$sp.txt" 2>&1; echo "rc $?"; tail -1 "$out/record-time-$sp.txt"; done
step done
