/**
 * `kpack bench --compare llama.cpp` on lavapipe with llama.cpp's CPU build as the peer (node-llama-cpp staged by
 * packs/stage-peer.sh cpu, as setup.sh does): a synthetic test-tiny Q4_0 file loads in llama.cpp and both
 * engines give JSONL rows of the documented shape; depths past the model's context are skipped with a note.
 * Plus the pure parts (table, depth filter, option parsing, module lookup) without any of that.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { type CompareRow, compareTable, depthsWithinContext } from '../bin/compare';
import { parsePeerGpus } from '../bin/commands/bench';
import { isAvailable, vulkan } from '../native/vulkan';
import { findNodeLlamaCpp } from '../runtime/peer/llama-cpp';
import { preset } from '../runtime/presets';
import { synthModel } from '../runtime/synth';
import { kpack } from './support/cli';

const root = path.resolve(__dirname, '..', '..');
const haveGpu = (() => {
  try {
    return isAvailable() && vulkan.listDevices().length > 0;
  } catch {
    return false;
  }
})();
const nlc = (() => {
  try {
    return findNodeLlamaCpp(root);
  } catch {
    return null;
  }
})();
const haveCpuBuild = nlc !== null && fs.existsSync(path.join(nlc, '..', '@node-llama-cpp', 'linux-x64', 'package.json'));
const skip = !haveGpu
  ? 'needs a Vulkan device (lavapipe)'
  : !haveCpuBuild
    ? 'needs node-llama-cpp with its CPU build (bash packs/stage-peer.sh cpu)'
    : false;

const ROW_KEYS = ['model', 'type', 'test', 'kind', 'tokens', 'depth', 'engine', 'device', 'tps', 'sd', 'runs_ms'];

describe('kpack bench --compare llama.cpp (CPU peer)', { skip }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kpack-peer-'));
  const model = path.join(dir, 'tiny-q4_0.gguf');
  const env = { KPACK_CACHE: path.join(dir, 'cache'), XDG_CACHE_HOME: path.join(dir, 'xdg') };
  synthModel(preset('test-tiny'), 'q4_0', model);
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('JSONL: one row per test and engine, kpack and llama.cpp CPU, with t/s', () => {
    const r = kpack(['bench', '--compare', 'llama.cpp', '--peer-gpu', 'cpu', '-m', model, '-p', '16', '-n', '8', '-d', '0,64', '-r', '2', '-o', 'jsonl'], env);
    assert.equal(r.status, 0, r.stderr);
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(rows.length, 8, r.stdout);
    for (const row of rows) {
      assert.deepEqual(Object.keys(row).sort(), [...ROW_KEYS].sort());
      assert.equal(row.model, 'tiny-q4_0.gguf');
      assert.equal(row.type, 'Q4_0');
      assert.ok(row.tps > 0 && Number.isFinite(row.tps), `${row.engine} ${row.test}: ${row.tps}`);
      assert.equal(row.runs_ms.length, 2);
      assert.equal(typeof row.device, 'string');
    }
    assert.deepEqual([...new Set(rows.map((x) => x.engine))], ['kpack', 'llama.cpp CPU']);
    assert.deepEqual([...new Set(rows.map((x) => x.test))], ['pp16', 'tg8', 'pp16 @ d64', 'tg8 @ d64']);
    assert.deepEqual([...new Set(rows.map((x) => x.depth))], [0, 64]);
  });

  test('table output, and depths past the context length are skipped with a note', () => {
    const r = kpack(['bench', '--compare', 'llama.cpp', '--peer-gpu', 'cpu,vulkan', '-m', model, '-p', '8', '-n', '4', '-d', '0,1000', '-r', '1'], env);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /skipping depth 1000: .*context length 256/);
    if (!process.env.GGML_VK_VISIBLE_DEVICES) assert.match(r.stderr, /skipping llama\.cpp Vulkan: /); // not staged, or no GPU device
    assert.match(r.stdout, /\| test +\| +kpack t\/s \| llama\.cpp CPU t\/s \|/);
    assert.match(r.stdout, /\| pp8 +\|/);
    assert.doesNotMatch(r.stdout, /d1000/);
  });
});

describe('compare helpers', () => {
  const row = (test: string, engine: string, tps: number): CompareRow => ({
    model: 'm.gguf', type: 'Q4_0', test, kind: 'pp', tokens: 512, depth: 0, engine, device: 'dev', tps, sd: 1, runs_ms: [1],
  });

  test('compareTable puts each engine in a column and divides by the best peer', () => {
    const t = compareTable([row('pp512', 'kpack', 100), row('pp512', 'llama.cpp Vulkan', 50), row('pp512', 'llama.cpp CUDA', 200)]);
    assert.match(t, /\| test +\| +kpack t\/s \| llama\.cpp Vulkan t\/s \| llama\.cpp CUDA t\/s \| ratio vs best peer \|/);
    assert.match(t, /\| pp512 \| +100\.00 ± 1\.00 \| +50\.00 ± 1\.00 \| +200\.00 ± 1\.00 \| +0\.50x \|/);
  });

  test('depthsWithinContext drops depths that do not fit, with a note', () => {
    const notes: string[] = [];
    assert.deepEqual(depthsWithinContext([0, 4096, 16384, 65536], 512, 8192, (s) => notes.push(s)), [0, 4096]);
    assert.equal(notes.length, 2);
    assert.deepEqual(depthsWithinContext([0, 65536], 512, 0, () => assert.fail()), [0, 65536]);
  });

  test('parsePeerGpus accepts vulkan, cuda, cpu and names a bad one', () => {
    assert.deepEqual(parsePeerGpus('vulkan,cuda,vulkan'), ['vulkan', 'cuda']);
    assert.throws(() => parsePeerGpus('vulkan,metal'), /--peer-gpu: "metal" is not a llama.cpp build/);
  });

  test('findNodeLlamaCpp names a KPACK_NODE_LLAMA_CPP that holds no node-llama-cpp', () => {
    assert.throws(() => findNodeLlamaCpp(root, { KPACK_NODE_LLAMA_CPP: os.tmpdir() }), /KPACK_NODE_LLAMA_CPP=.*: no node-llama-cpp there/);
  });
});
