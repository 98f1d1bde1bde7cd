#!/usr/bin/env bash
# GPU call 2 of the next session (prepared in 2026-12-08b, not run): a pack tuned for the q8_0 K/V cache, warm-started
# from the shipped pack (its GEMV / GEMM variants are timed first), then bench of both packs at the depths,
# and bench-ops of the K/V q8_0 rows with the tuned pack. The tuned pack lands in $out/q8kv.kpack (ship it as
# packs/<gpu>-llama-3.2-1b-q4_0-q8kv.kpack if it wins). Last, where dist/kernels/hip and build/Release/kpack_hip.node
# are carried, the HIP numerics through NVRTC of MERGE 1 and of the q8_0 / q4_0 caches (>= 300 s; a separate call if time is short).
. docs/runs/2026-12-08b/env.sh "$@"
[ -f $m ] || timeout -k 3 60 $K synth --preset llama-3.2-1b --type q4_0 -o $m > /tmp/synth.txt 2>&1
step autotune q8_0 K/V; timeout -k 10 ${TUNE_S:-330} $K autotune --model $m --kv-type q8_0 --budget ${BUDGET:-90s} --warm-start-pack $new --out "$out/q8kv.kpack" > "$out/autotune-q8kv.txt" 2>&1; echo "rc $?"; grep -E "autotune:|wrote|fusion:|attention" "$out/autotune-q8kv.txt" | tail -20
[ -f "$out/q8kv.kpack" ] && {
  step bench tuned q8_0 K/V; timeout -k 5 90 $K bench -m $m --pack "$out/q8kv.kpack" --kv-type q8_0 -p 512 -n 128 -d 0,4096,16384 -r 3 --profile > "$out/bench-q8kv-tuned.txt" 2>&1; grep -E "\| llama|GPU total|split" "$out/bench-q8kv-tuned.txt" | head -16
  step bench-ops tuned; timeout -k 5 60 $K bench-ops --pack "$out/q8kv.kpack" --filter "attn q8_0" --row-time 2s > "$out/bench-ops-q8kv.txt" 2>&1; grep -E "^\| attn" "$out/bench-ops-q8kv.txt"
}
[ -d dist/kernels/hip ] && [ -f build/Release/kpack_hip.node ] && { step hip merge; KPACK_TEST_PROGRESS=1 timeout -k 3 ${HIP_S:-300} node --test --test-concurrency=1 --test-name-pattern="argmax|attention|rope_kv" dist/test/hip-kernels.test.js > "$out/hip-merge.txt" 2>&1; echo "rc $?"; grep -E "^# (pass|fail|skip)|^ *not ok" "$out/hip-merge.txt" | head -20; }
step done
