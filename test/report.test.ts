/**
 * `kpack report`: from small fixture JSONL (bench --compare rows, a llama-bench row, bench-ops rows) into a
 * temporary folder; the PNGs are valid PNG files with nonzero dimensions and README.md links each of them.
 * Plus the defensive row reading and its errors. Needs the optional dependencies vega, vega-lite and
 * @resvg/resvg-wasm (skips with a message without them).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { writeReport } from '../tuner/bench-report';
import { fontFamily, findFont } from '../tuner/bench-report/charts';
import { readJsonl, toBenchPoint, toOpPoint } from '../tuner/bench-report/rows';
import { kpack } from './support/cli';

const haveDeps = ['vega', 'vega-lite', '@resvg/resvg-wasm'].every((m) => {
  try {
    require.resolve(m);
    return true;
  } catch {
    return false;
  }
});

const bench = [
  ...[0, 4096].flatMap((depth) =>
    ['pp512', 'tg128'].flatMap((t) =>
      [['kpack', 100], ['llama.cpp Vulkan', 120], ['llama.cpp CUDA', 140]].map(([engine, tps]) => ({
        model: 'm.gguf', type: 'Q4_0', test: depth ? `${t} @ d${depth}` : t, kind: t.slice(0, 2), tokens: Number(t.slice(2)), depth,
        engine, device: 'NVIDIA H200', tps: (tps as number) / (1 + depth / 4096), sd: 2, runs_ms: [1, 2, 3],
      })),
    ),
  ),
  // llama-bench's own JSONL row: read too
  { model_filename: '/x/m.gguf', model_type: 'Q4_0', n_prompt: 512, n_gen: 0, n_depth: 0, avg_ts: 48362.1, stddev_ts: 100, backends: 'Vulkan', gpu_info: 'NVIDIA H200' },
];
const ops = [
  { label: 'matmul q4_0 4096x14336 n=1', op: 'matmul', type: 'q4_0', shape: 'm=4096 k=14336 n=1', our_us: 21.5, anchor_vulkan_us: 14.18, anchor_cuda_us: 14.65, tflops: 0.0055, gbps: 1535, pct_floor: 36, device: 'NVIDIA H200' },
  { label: 'matmul f16 4096x14336 n=512', op: 'matmul', our_us: 310.2, anchor_vulkan_us: 269.95, anchor_cuda_us: 134.66, tflops: 193.8 },
  { op: 'rms_norm', shape: { n: 2048 }, our_us: 3.2, future_field: 'ignored' },
];

/** Width and height from a PNG's IHDR, after checking the signature. */
function pngSize(file: string): { width: number; height: number } {
  const b = fs.readFileSync(file);
  assert.deepEqual([...b.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], `${file}: PNG signature`);
  assert.equal(b.subarray(12, 16).toString('latin1'), 'IHDR', `${file}: IHDR first`);
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
}

describe('kpack report', { skip: haveDeps ? false : 'needs the optional dependencies vega, vega-lite, @resvg/resvg-wasm (npm install)' }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kpack-report-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const benchFile = path.join(dir, 'bench.jsonl');
  const opsFile = path.join(dir, 'ops.jsonl');
  fs.writeFileSync(benchFile, bench.map((r) => JSON.stringify(r)).join('\n') + '\n\n');
  fs.writeFileSync(opsFile, ops.map((r) => JSON.stringify(r)).join('\n') + '\n');

  test('writes README.md and valid PNGs it links', async () => {
    const out = path.join(dir, 'report');
    const files = await writeReport({ bench: [benchFile], ops: [opsFile], out, warn: () => undefined });
    const readme = fs.readFileSync(path.join(out, 'README.md'), 'utf8');
    const pngs = files.filter((f) => f.endsWith('.png')).map((f) => path.basename(f));
    assert.deepEqual(pngs.sort(), ['ops-tflops.png', 'ops-vs-anchors.png', 'pp512-m-gguf-q4-0.png', 'tg128-m-gguf-q4-0.png']);
    for (const p of pngs) {
      const { width, height } = pngSize(path.join(out, p));
      assert.ok(width > 100 && height > 100, `${p}: ${width}x${height}`);
      assert.ok(readme.includes(`](${p})`), `README.md links ${p}`);
    }
    assert.match(readme, /\| test \| kpack \(t\/s\) \| llama-bench Vulkan \(t\/s\) \| llama\.cpp CUDA \(t\/s\) \| llama\.cpp Vulkan \(t\/s\) \| kpack \/ best other \|/);
    assert.match(readme, /\| tg128 @ d4096 \| 50\.0 ± 2\.00 \| - \| 70\.0 ± 2\.00 \| 60\.0 ± 2\.00 \| 0\.71x \|/);
    assert.match(readme, /\| rms_norm \{"n":2048\} \| 3\.20 \| - \| - \|/);
  });

  test('the CLI writes the report and names a bad line', () => {
    const out = path.join(dir, 'cli');
    const r = kpack(['report', '--bench', benchFile, '--out', out]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /wrote .*README\.md/);
    const bad = path.join(dir, 'bad.jsonl');
    fs.writeFileSync(bad, JSON.stringify(bench[0]) + '\n{"test": "pp512"\n');
    const b = kpack(['report', '--bench', bad, '--out', out]);
    assert.equal(b.status, 1);
    assert.match(b.stderr, /^kpack: .*bad\.jsonl:2: not JSON/);
  });
});

describe('report rows', () => {
  test('bench rows: keys read defensively, errors name the line', () => {
    assert.deepEqual(toBenchPoint({ test: 'tg128 @ d4096', tokensPerSecond: 5, stddev: 1, model: '/a/b.gguf' }, 'f:1'), {
      model: 'b.gguf', type: '', test: 'tg128 @ d4096', kind: 'tg', tokens: 128, depth: 4096, engine: 'kpack', device: '', tps: 5, sd: 1,
    });
    assert.throws(() => toBenchPoint({ test: 'pp512' }, 'f:3'), /^Error: f:3: no t\/s/);
    assert.throws(() => toBenchPoint({ tps: 1, test: 'warmup' }, 'f:4'), /^Error: f:4: no test/);
  });

  test('op rows: label from op/type/shape, nulls for missing anchors, error without a time', () => {
    const o = toOpPoint({ op: 'matmul', type: 'f16', shape: 'n=1', us: 2 }, 'f:1')!;
    assert.equal(o.label, 'matmul f16 n=1');
    assert.equal(o.ourUs, 2);
    assert.equal(o.anchorCudaUs, null);
    assert.throws(() => toOpPoint({ label: 'x' }, 'f:2'), /f:2: no positive time per op/);
    // bench-ops' own rows: camelCase anchors and floors, unsupported rows skipped
    const b = toOpPoint({ label: 'matmul q4_0 n=1', op: 'matmul', type: 'q4_0', status: 'ok', us: 295.4, anchorVulkanUs: 14.18, anchorCudaUs: 14.65, pctAnchorFloor: 2.6 }, 'f:3');
    assert.deepEqual([b?.anchorVulkanUs, b?.anchorCudaUs, b?.pctFloor], [14.18, 14.65, 2.6]);
    assert.equal(toOpPoint({ label: 'attn q8_0', status: 'unsupported', us: null, reason: 'no q8_0 K/V' }, 'f:4'), null);
  });

  test('readJsonl names a missing file and a non-object line', () => {
    assert.throws(() => readJsonl('/nonexistent.jsonl'), /\/nonexistent\.jsonl: no such file/);
    const f = path.join(os.tmpdir(), `kpack-rows-${process.pid}.jsonl`);
    fs.writeFileSync(f, '[1,2]\n');
    try {
      assert.throws(() => readJsonl(f), /:1: expected a JSON object per line/);
    } finally {
      fs.rmSync(f);
    }
  });

  test('fontFamily reads the family name of the font the charts use', { skip: findFont() ? false : 'no TrueType font on this machine' }, () => {
    assert.ok((fontFamily(fs.readFileSync(findFont()!)) ?? '').length > 0);
  });
});
