/**
 * `kpack bench-ops` and its parts on the first Vulkan device (lavapipe here): the anchor table as data and
 * its mapping onto kpack's shapes, the copy kernel family, one anchor row timed at full size with the
 * ratio to the anchors, and the CLI with a large --scale and a filter (JSONL and table output, errors).
 * No timing thresholds: only that times are positive and the figures are consistent with each other.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { copy } from '../generator/families/copy';
import { matmulCoopmat } from '../generator/families';
import type { DeviceLimits } from '../generator/schema';
import { readPack } from '../tuner/pack/read';
import { KernelSet } from '../runtime/kernels';
import { ANCHORS, type AttentionAnchor, anchorLabel, bestAnchorUs } from '../tuner/anchors';
import { benchRotationSets, randomTensorBytes } from '../tuner/bench-inputs';
import { type VariantChooser, benchRow, cannotRun, gemmPeakRow, scaleAnchor, selectAnchors } from '../tuner/ops-bench';
import { mulberry32 } from '../tuner/search/index';
import { kpack } from './support/cli';
import { closeGpu, openGpu, runVariant } from './support/kernel-harness';

const { gpu, why } = openGpu();
after(closeGpu);
const skip = gpu ? false : `skipped: ${why}`;
/** Keep installed packs out of the CLI runs: an empty cache directory. */
const isolated = { XDG_CACHE_HOME: fs.mkdtempSync(path.join(os.tmpdir(), 'kpack-bench-ops-')) };

describe('anchors as data', () => {
  it('holds every ANCHORS.md row with unique labels', () => {
    assert.equal(ANCHORS.filter((a) => a.op === 'matmul').length, 16);
    assert.equal(ANCHORS.filter((a) => a.op === 'attention').length, 14);
    assert.equal(new Set(ANCHORS.map(anchorLabel)).size, ANCHORS.length);
    assert.ok(ANCHORS.every((a) => a.vulkanUs > 0 && a.cudaUs > 0));
  });

  it('maps the anchors onto kpack shapes at scale 1', () => {
    const q4k = scaleAnchor(ANCHORS.find((a) => anchorLabel(a) === 'matmul q4_k n=512')!, 1);
    assert.deepEqual(q4k.shape, { M: 4096, N: 512, K: 14336 });
    const gqa = scaleAnchor(ANCHORS.find((a) => anchorLabel(a) === 'attn f16 D=64 nh=8 r=8 kv=7680 nb=4')!, 1);
    assert.equal(gqa.op, 'attention');
    assert.deepEqual(gqa.shape, { D: 64, heads: 64, kvHeads: 8, queries: 4, kvLength: 7680, kvStride: 7680, queryPos0: 7676, causal: true, scale: 1 / 8 });
    const noMask = ANCHORS.find((a) => a.op === 'attention' && a.D === 72) as AttentionAnchor;
    assert.equal(noMask.causal, false);
    assert.equal((scaleAnchor(noMask, 1).shape as { queries: number }).queries, 5776);
  });

  it('scales to legal shapes: K whole super-blocks, decode nb kept, prefill nb <= kv', () => {
    for (const a of ANCHORS) {
      for (const f of [2, 16, 64]) {
        const row = scaleAnchor(a, f);
        if (row.op === 'matmul') {
          assert.equal(row.shape.K % 256, 0, row.label);
          assert.equal(row.shape.N, (a as { n: number }).n);
        } else {
          const s = row.shape;
          assert.ok(s.queryPos0 >= 0 && s.queries <= s.kvLength && s.kvLength <= s.kvStride, row.label);
          if ((a as AttentionAnchor).nb <= 8) assert.equal(s.queries, (a as AttentionAnchor).nb);
          else assert.ok(s.queries > 8, row.label);
        }
      }
    }
    assert.throws(() => scaleAnchor(ANCHORS[0], 1.5), /scale 1\.5 is not a positive integer/);
    assert.throws(() => selectAnchors(ANCHORS, /no such row/), /matches no row/);
  });

  it('random inputs are valid, non-zero blocks; small inputs rotate through sets spanning 4x the cache', () => {
    const rng = mulberry32(5);
    for (const t of ['q8_0', 'q4_0', 'q4_k', 'q6_k'] as const) {
      const bytes = randomTensorBytes(t, 512, rng);
      assert.ok(bytes.some((b) => b !== 0), t);
    }
    assert.equal(benchRotationSets(33e6, 64 * 2 ** 20), 8);
    assert.equal(benchRotationSets(117e6, 64 * 2 ** 20), 3);
    assert.equal(benchRotationSets(235e6, 64 * 2 ** 20), 2);
    assert.equal(benchRotationSets(300e6, 64 * 2 ** 20), 1);
  });
});

describe('bench-ops device check (CPU)', () => {
  const limits: DeviceLimits = {
    subgroupSize: 32, maxSharedMemoryBytes: 49152, maxWorkgroupInvocations: 1024, maxWorkgroupSizeX: 1024,
    coopmat: true, coopmat2: true, shaderFloat16: true, integerDotProduct: true, atomicFloatAdd: true, multiprocessorCount: 132,
    coopmatShapes: [{ M: 16, N: 16, K: 16, aType: 'f16', bType: 'f16', cType: 'f32', resultType: 'f32', scope: 'subgroup' }],
  };
  const q4 = matmulCoopmat.instances.find((i) => i.key === 'q4_0')!;
  const variant = (params: Record<string, number>) => ({ family: matmulCoopmat, instance: q4, params: { ...matmulCoopmat.defaults, ...params }, spirv: new Uint8Array() });
  const shape = { M: 4096, N: 512, K: 14336 };
  it('checks the main pass, not the auxiliary passes whose parameters plan() pins (split-K reduce, B -> f16)', () => {
    // the H200 pack's split-K + B-conversion GEMM: its PASS 1 / 2 steps get WM = WN = 1 with WG = 128
    const tuned = variant({ WG: 128, BM: 256, BN: 64, BK: 64, WM: 4, WN: 1, STAGES: 1, SPLIT_WGS: 128, PRE_B: 1 });
    assert.ok(matmulCoopmat.plan(shape, tuned.params, q4).steps.some((st) => st.specOverrides?.PASS), 'the plan has auxiliary passes');
    assert.equal(cannotRun(tuned, shape, limits), null);
  });
  it('still names a main pass the device cannot run', () => {
    const wrongWg = variant({ WG: 64, WM: 2, WN: 2 }); // WG 64 != WM * WN * subgroup = 128
    const why = cannotRun(wrongWg, shape, limits);
    assert.ok(why && /matmul\.coopmat\/q4_0 .*WG=64/.test(why.family) && why.reason === 'WG != WM*WN*subgroupSize', JSON.stringify(why));
    assert.equal(cannotRun(variant({}), shape, { ...limits, coopmat: false } as DeviceLimits)?.reason !== undefined, true);
  });
});

describe('bench-ops on Vulkan', { skip }, () => {
  it('the copy kernel copies exactly, for several WG/VPT and a ragged tail', async () => {
    const g = gpu!;
    const bytes = 16 * 1237;
    const src = new Uint32Array(bytes / 4).map((_, i) => (i * 2654435761) >>> 0);
    for (const params of [copy.defaults, { WG: 64, VPT: 1 }, { WG: 256, VPT: 8 }]) {
      const out = await runVariant(g, copy, copy.instances[0], params, { bytes }, { src }, { dst: { bytes } });
      assert.deepEqual(new Uint32Array(out.dst), src, JSON.stringify(params));
    }
    assert.throws(() => copy.plan({ bytes: 100 }, copy.defaults, copy.instances[0]), /100 bytes is not a positive multiple of 16/);
  });

  it('times a full-size anchor row with the default pack and compares it with the anchors', () => {
    const g = gpu!;
    const kernels = new KernelSet(g.ctx, [readPack(path.resolve(__dirname, '..', 'default.kpack'))]);
    try {
      const chooser: VariantChooser = { pipelines: kernels.pipelines, choose: (req) => kernels.choose(req as Parameters<KernelSet['choose']>[0]) };
      const anchor = ANCHORS.find((a) => anchorLabel(a) === 'attn f16 D=64 nh=8 r=1 kv=4096 nb=1')!;
      const roofs = { anchorCopyBytesPerS: 4.3e12, measuredCopyBytesPerS: 10e9, gemmPeakFlopsPerS: null };
      const r = benchRow(g.ctx, chooser, scaleAnchor(anchor, 1), roofs, { timing: { maxTimeMs: 300 } });
      assert.equal(r.status, 'ok', r.reason);
      assert.ok(r.us! > 0);
      assert.equal(r.anchorVulkanUs, 11.33);
      assert.equal(r.anchorCudaUs, 9.11);
      assert.ok(Math.abs(r.ratio! - bestAnchorUs(anchor) / r.us!) < 1e-12);
      assert.equal(r.bound, 'memory');
      assert.ok(Math.abs(r.pctCopyFloor! - (100 * r.copyFloorUs!) / r.us!) < 1e-9);
      assert.equal(r.family, 'attention.vec');
      assert.equal(r.params!.D, 64, 'reported params are those the pipeline gets');
      assert.equal(r.level, 'default');
      const peak = benchRow(g.ctx, chooser, gemmPeakRow(64), roofs, { timing: { maxTimeMs: 300 } });
      assert.equal(peak.status, 'ok');
      assert.deepEqual(peak.shape, { M: 256, N: 256, K: 256 });
      // a row of a type no family implements comes back unsupported, saying why, without running
      const q5 = benchRow(g.ctx, chooser, { ...scaleAnchor(anchor, 64), instance: 'q5_1' }, roofs);
      assert.equal(q5.status, 'unsupported');
      assert.match(q5.reason!, /no attention kernel family has a q5_1 K\/V instance \(kpack has f16, f32, q8_0, q4_0\)/);
      assert.equal(q5.us, null);
    } finally {
      kernels.destroy();
    }
  });

  const labels = ['matmul q4_k n=1', 'matmul f16 n=512', 'attn q8_0 D=64 nh=8 r=8 kv=7680 nb=1', 'attn q4_0 D=64 nh=8 r=8 kv=7680 nb=512', 'attn f16 D=64 nh=8 r=4 kv=16384 nb=1'];
  const filter = `^(${labels.join('|')})$`;

  it('CLI -o jsonl: one row per selected case with its figures (K/V q8_0 and q4_0 rows on their instances)', () => {
    const r = kpack(['bench-ops', '--scale', '64', '--filter', filter, '--row-time', '200ms', '--copy-mib', '4', '-o', 'jsonl'], isolated);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /bench-ops \[1\/7\] copy bandwidth/);
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(rows.map((x) => x.label), ANCHORS.map(anchorLabel).filter((l) => labels.includes(l)));
    for (const x of rows) {
      assert.ok(x.device.length > 0 && x.copyGBps > 0 && x.gemmPeakTflops > 0, JSON.stringify(x));
      assert.equal(x.copyBytes, 4 * 2 ** 20);
      assert.deepEqual(x.packs, ['default.kpack']);
      assert.equal(x.scale, 64);
      assert.equal(x.anchorVulkanUs, null, 'anchors do not apply to scaled shapes');
      assert.equal(x.ratio, null);
      assert.equal(x.status, 'ok', x.reason);
      assert.ok(x.us > 0 && x.ciUs[0] <= x.us && x.us <= x.ciUs[1] && x.reps > 0, JSON.stringify(x));
      assert.ok(x.family && x.params && x.level && x.pack === 'default.kpack', JSON.stringify(x));
      if (x.bound === 'memory') {
        assert.ok(x.gbps > 0 && x.pctAnchorFloor > 0 && x.pctCopyFloor > 0 && x.pctGemmPeak === null, JSON.stringify(x));
        assert.ok(Math.abs(x.copyFloorUs - x.bytes / (x.copyGBps * 1e3)) < 1e-9 * x.copyFloorUs);
      } else {
        assert.ok(x.tflops > 0 && x.pctGemmPeak > 0 && x.pctCopyFloor === null, JSON.stringify(x));
        assert.ok(x.pctGemmPeak <= 100 + 1e-9, 'the peak is the best GEMM rate of the run');
        assert.ok(['gemm peak f16 256x256x256', 'matmul f16 n=512'].includes(x.gemmPeakSource), x.gemmPeakSource);
      }
    }
    assert.equal(rows.find((x) => x.label === 'matmul q4_k n=1').family, 'matmul.vec');
    assert.equal(rows.find((x) => x.label === 'matmul f16 n=512').family, 'matmul.tile');
    const q8 = rows.find((x) => x.label === 'attn q8_0 D=64 nh=8 r=8 kv=7680 nb=1');
    assert.deepEqual([q8.family, q8.instance], ['attention.vec', 'q8_0'], 'the q8_0 K/V row runs on its attention instance');
    const q4 = rows.find((x) => x.label === 'attn q4_0 D=64 nh=8 r=8 kv=7680 nb=512');
    assert.deepEqual([q4.family, q4.instance], ['attention.tile', 'q4_0'], 'the q4_0 K/V prefill row runs on its attention instance');
  });

  it('CLI table: roofs, then a row per case with "-" for anchors', () => {
    const r = kpack(['bench-ops', '--scale', '64', '--filter', 'attn q4_0 D=64 nh=8 r=8 kv=7680 nb=512$|matmul q4_0 n=1$', '--row-time', '200ms', '--copy-mib', '4'], isolated);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^copy: [\d.]+ GB\/s \(.*4\.0 MiB, read \+ write\)/m);
    assert.match(r.stdout, /^GEMM peak: [\d.]+ [GT]FLOP\/s \(best of gemm peak f16 256x256x256;/m);
    assert.match(r.stdout, /shapes scaled down by 64/);
    assert.match(r.stdout, /\| matmul q4_0 n=1 +\| M=64 K=256 N=1 +\| +[\d.]+ \| +- \| +- \| +- \| .*GB\/s .*matmul\.vec/);
    assert.match(r.stdout, /\| attn q4_0 D=64 nh=8 r=8 kv=7680 nb=512 +\| D=64 H=64\/8 kv=120 nb=9 +\| +[\d.]+ \| +- \| +- \| +- \| .*attention\.tile/);
  });

  it('CLI errors name the bad option', () => {
    for (const [args, message] of [
      [['--filter', '('], /^kpack: --filter \(: not a regular expression/m],
      [['--filter', 'nothing-like-this'], /^kpack: --filter \/nothing-like-this\/: matches no row \(rows: matmul f32 n=1;/m],
      [['--scale', '0'], /^kpack: --scale 0: expected a positive integer/m],
      [['--scale', '1.5'], /^kpack: --scale 1\.5: expected a positive integer/m],
    ] as Array<[string[], RegExp]>) {
      const r = kpack(['bench-ops', ...args], isolated);
      assert.equal(r.status, 1, args.join(' '));
      assert.match(r.stderr, message);
    }
  });
});
