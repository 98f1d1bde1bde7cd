/**
 * Decode-step replay in the Llama graph (runtime/model/llama.ts) on lavapipe: one-token steps are recorded
 * once per 256-position window and replayed with the position read from the step buffer. Checks that
 * replayed steps give bitwise the same logits as steps recorded afresh at their own position (the
 * profiler forces a fresh recording), across a window boundary; that the last-position logits match
 * the float64 reference; and that prompt chunks (GEMM path, fixed positions) and decode steps agree
 * with the reference on the same cache; that the fused decode QKV rope and the fused feed-forward (ffn.vecq,
 * three rotating stream buffers) and the fused attention + O projection (attention_o.vec, adding into the stream
 * in place) give the logits and greedy ids of the separate dispatches. Skips without a
 * Vulkan device.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isAvailable, vulkan } from '../native/vulkan';
import type { Context } from '../native/vulkan/api';
import { GgufFile } from '../runtime/gguf';
import { llamaConfigFromGguf } from '../runtime/model-config';
import { type KvType, REPLAY_WINDOW } from '../generator/ops';
import { preset } from '../runtime/presets';
import { OpProfiler } from '../runtime/profile';
import { openModel } from '../runtime/session';
import { synthModel } from '../runtime/synth';
import { relativeError } from '../tuner/reference/matmul';
import { readPack } from '../tuner/pack/read';
import { attentionOVec } from '../generator/families/attention_o_vec';
import { ffnVecq } from '../generator/families/ffn_vecq';
import { matmulVecq } from '../generator/families/matmul_vecq';
import { entryAbi } from '../generator/schema';
import type { Pack } from '../tuner/pack/format';
import { LlamaReference } from './support/llama-ref';
import { builtSpirv } from './support/kernel-harness';

const haveGpu = (() => {
  try {
    return isAvailable() && vulkan.listDevices().length > 0;
  } catch {
    return false;
  }
})();

const defaultPack = () => path.join(__dirname, '..', 'default.kpack');

describe('decode replay', { skip: haveGpu ? false : 'needs a Vulkan device (lavapipe)' }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kpack-replay-'));
  let ctx: Context;
  const file = path.join(dir, 'tiny.gguf');
  before(() => {
    ctx = vulkan.createContext(0);
    synthModel({ ...preset('test-tiny'), contextLength: 2 * REPLAY_WINDOW + 64 }, 'f32', file, { seed: 11 });
  });
  /** A session on the synthetic model with the default pack (f32 K/V, batches up to 16). */
  const openSession = (contextLength: number) => openModel(ctx, file, { packs: [readPack(defaultPack())], contextLength, maxBatch: 16, kvType: 'f32' });
  /** A session on `file` with `packs` and `kvType` K/V (default f16), opened while the environment has `name`=`value` (the graph reads it at construction). */
  const openWithEnv = (name: string, value: string, modelFile: string, packs: Pack[], kvType: KvType = 'f16') => {
    const before = process.env[name];
    process.env[name] = value;
    try {
      return openModel(ctx, modelFile, { packs, contextLength: 2 * REPLAY_WINDOW + 64, maxBatch: 16, kvType });
    } finally {
      if (before === undefined) delete process.env[name];
      else process.env[name] = before;
    }
  };
  const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
  /** The ops of one profiled 1-token decode step of `tok` at `pos` (a recorded, not replayed, step). */
  const decodeStepOps = (s: ReturnType<typeof openModel>, tok: number, pos: number): string[] => {
    s.kernels.profiler = new OpProfiler();
    s.graph.forward([tok], pos, 'logits');
    s.kernels.profiler = null;
    return s.graph.lastProfile.map((o) => o.op);
  };
  /**
   * Sessions on `modelFile` with `pack` and `kvType` K/V, rope fused into the QKV GEMV and not (KPACK_FUSE_ROPE), both
   * prefilled with a 16-token prompt; checks that one decode step of the fused one runs no rope_kv and one dispatch
   * fewer per layer (and the plain one a rope_kv per layer). The caller closes them.
   */
  const openRopePair = (modelFile: string, pack: Pack, kvType: KvType) => {
    const fused = openWithEnv('KPACK_FUSE_ROPE', '1', modelFile, [pack], kvType);
    const plain = openWithEnv('KPACK_FUSE_ROPE', '0', modelFile, [pack], kvType);
    const vocab = fused.graph.cfg.vocab;
    const prompt = Array.from({ length: 16 }, (_, i) => (i * 53 + 7) % vocab);
    for (const s of [fused, plain]) s.graph.forward(prompt, 0, 'none');
    // which ops one decode step runs (the profiler records afresh, at a fixed position)
    const fusedOps = decodeStepOps(fused, prompt[1], 16), plainOps = decodeStepOps(plain, prompt[1], 16);
    const layers = fused.graph.cfg.layers;
    assert.equal(fusedOps.filter((o) => o === 'rope_kv').length, 0, `${kvType} fused step ops: ${fusedOps.join(' ')}`);
    assert.equal(plainOps.filter((o) => o === 'rope_kv').length, layers, `${kvType} plain step ops: ${plainOps.join(' ')}`);
    assert.equal(plainOps.length - fusedOps.length, layers, `${kvType}: one dispatch fewer per layer`);
    return { fused, plain, prompt };
  };
  /** Adds a tuned-looking 1-token ffn.vecq entry (HB 2, WG 128) of instance `key` to `pack`. */
  const addFfnEntry = (pack: Pack, cfg: { dim: number; ffnDim: number }, key: string, spirv: Uint8Array): void => {
    pack.blobs.set(sha(spirv), spirv);
    const match = { instance: key, shape: { dim: cfg.dim, hidden: cfg.ffnDim }, range: { N: [1, 1] as [number, number] } };
    pack.manifest.entries.push({ op: 'ffn', bucket: `ffn/${key}/test`, match, family: ffnVecq.id, abi: entryAbi(ffnVecq, key), instance: key, params: { ...ffnVecq.defaults, HB: 2, WG: 128 }, spirv: sha(spirv), stats: [] });
  };
  /** The default pack with its decode GEMV entries of the instances in `vecq` (instance -> SPIR-V) served by matmul.vecq, RPT `rpt`. */
  const withVecqGemvs = (vecq: Map<string, Uint8Array>, rpt = 2): Pack => {
    const base = readPack(defaultPack());
    const blobs = new Map(base.blobs);
    const entries = base.manifest.entries.map((e) => {
      const b = e.family === 'matmul.vec' ? vecq.get(e.instance) : undefined;
      if (!b) return e;
      blobs.set(sha(b), b);
      return { ...e, family: matmulVecq.id, params: { ...matmulVecq.defaults, RPT: rpt }, spirv: sha(b), abi: entryAbi(matmulVecq, e.instance) };
    });
    return { ...base, manifest: { ...base.manifest, entries }, blobs };
  };
  after(() => {
    ctx?.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('replayed steps equal fresh recordings bitwise across a window boundary; logits match float64', () => {
    const g = GgufFile.open(file);
    try {
      const cfg = llamaConfigFromGguf(g);
      const open = () => openSession(cfg.contextLength);
      const a = open();
      const b = open();
      try {
        b.kernels.profiler = new OpProfiler();
        const steps = REPLAY_WINDOW + 20;
        const tokens = Array.from({ length: steps }, (_, i) => (i * 37 + 5) % cfg.vocab);
        const checkAt = new Set([0, 1, 2, REPLAY_WINDOW - 2, REPLAY_WINDOW - 1, REPLAY_WINDOW, REPLAY_WINDOW + 1, steps - 1]);
        let last: Float32Array | null = null;
        for (let pos = 0; pos < steps; pos++) {
          if (checkAt.has(pos)) {
            const la = a.graph.forward([tokens[pos]], pos, 'logits');
            const lb = b.graph.forward([tokens[pos]], pos, 'logits');
            assert.deepEqual(la, lb, `logits differ at position ${pos}`);
            last = la;
          } else {
            a.graph.forward([tokens[pos]], pos, 'none');
            b.graph.forward([tokens[pos]], pos, 'none');
          }
        }
        // One recording per (output mode, window): none/logits in two windows; the rest replayed.
        assert.ok(a.graph.stats.recorded <= 8, `recorded ${a.graph.stats.recorded} times`);
        assert.ok(a.graph.stats.replayed >= steps - 8, `replayed ${a.graph.stats.replayed} of ${steps}`);
        assert.equal(b.graph.stats.replayed, 0);
        // float64 reference over the same token stream
        const ref = new LlamaReference(g, cfg, false);
        let refLogits: Float64Array = new Float64Array(0);
        tokens.forEach((t, pos) => (refLogits = ref.step(t, pos)));
        const err = relativeError(last!, refLogits);
        assert.ok(err < 1e-4, `last logits vs float64: rel err ${err}`);
      } finally {
        a.close();
        b.close();
      }
    } finally {
      g.close();
    }
  });

  test('greedy(): chained decode steps give the ids of step-by-step argmax decoding, across a window boundary', () => {
    const g = GgufFile.open(file);
    try {
      const cfg = llamaConfigFromGguf(g);
      const open = () => openSession(cfg.contextLength);
      const a = open();
      const b = open();
      try {
        const prompt = Array.from({ length: 16 }, (_, i) => (i * 53 + 7) % cfg.vocab);
        const pos0 = REPLAY_WINDOW - 40; // 40 + 30 steps: a window's chains, its last position, the next window's
        for (const s of [a, b]) for (let p = 0; p < pos0; p += 16) s.graph.forward(prompt, p, 'none');
        const count = 70;
        const want: number[] = [];
        let t = prompt[3];
        for (let i = 0; i < count; i++) want.push((t = b.graph.forward([t], pos0 + i, 'argmax')));
        const recordedBefore = a.graph.stats.recorded;
        const got = a.graph.greedy(prompt[3], pos0, count);
        assert.deepEqual([...got], want);
        assert.ok(a.graph.stats.recorded - recordedBefore <= 4, `${a.graph.stats.recorded - recordedBefore} recordings for ${count} steps`);
        assert.ok(new Set(want).size > 1, 'the ids vary (a chain that repeats its first id would not be caught otherwise)');
        // the same chain again from the same position (the cache is overwritten with the same values)
        assert.deepEqual([...a.graph.greedy(prompt[3], pos0, count)], want);
        assert.throws(() => a.graph.greedy(prompt[3], cfg.contextLength - 2, 3), RangeError);
        assert.throws(() => a.graph.greedy(cfg.vocab, 0, 3), RangeError);
      } finally {
        a.close();
        b.close();
      }
    } finally {
      g.close();
    }
  });

  test('a prompt chunk (GEMM path) then decode steps (replayed GEMV path) agree with float64', () => {
    const g = GgufFile.open(file);
    try {
      const cfg = llamaConfigFromGguf(g);
      const s = openSession(cfg.contextLength);
      try {
        const tokens = Array.from({ length: 20 }, (_, i) => (i * 101 + 3) % cfg.vocab);
        const ref = new LlamaReference(g, cfg, false);
        let refLogits: Float64Array = new Float64Array(0);
        tokens.forEach((t, pos) => (refLogits = ref.step(t, pos)));
        s.graph.forward(tokens.slice(0, 16), 0, 'none');
        let logits: Float32Array | null = null;
        for (let pos = 16; pos < 20; pos++) logits = s.graph.forward([tokens[pos]], pos, 'logits');
        const err = relativeError(logits!, refLogits);
        assert.ok(err < 1e-4, `rel err ${err}`);
        assert.ok(s.graph.stats.replayed >= 2);
      } finally {
        s.close();
      }
    } finally {
      g.close();
    }
  });

  test('a prompt chunk records each residual add with the RMSNorm after it (add_rms_norm), the last one alone', () => {
    const g = GgufFile.open(file);
    try {
      const cfg = llamaConfigFromGguf(g);
      const s = openSession(cfg.contextLength);
      try {
        s.kernels.profiler = new OpProfiler();
        const tokens = Array.from({ length: 16 }, (_, i) => (i * 7 + 1) % cfg.vocab);
        const logits = s.graph.forward(tokens, 0, 'logits');
        const ops = s.graph.lastProfile.map((o) => o.op);
        // per layer: the attention norm takes the previous layer's down add (not layer 0's), the FFN norm the o add
        assert.equal(ops.filter((o) => o === 'add_rms_norm').length, 2 * cfg.layers - 1, ops.join(' '));
        assert.equal(ops.filter((o) => o === 'add').length, 1, ops.join(' '));
        assert.equal(ops.filter((o) => o === 'rms_norm').length, 1, ops.join(' '));
        const ref = new LlamaReference(g, cfg, false);
        let r: Float64Array = new Float64Array(0);
        tokens.forEach((t, pos) => (r = ref.step(t, pos)));
        assert.ok(relativeError(logits, r) < 1e-4, `prompt logits vs float64: ${relativeError(logits, r)}`);
      } finally {
        s.close();
      }
    } finally {
      g.close();
    }
  });

  test('rope fused into the decode QKV GEMV (matmul.vecq ROPE) gives the logits and greedy ids of separate rope_kv dispatches', (t) => {
    const spirv = builtSpirv('matmul.vecq', 'q8_0');
    if (!spirv) return t.skip('no built matmul.vecq/q8_0 SPIR-V (dist/kernels)');
    const qfile = path.join(dir, 'tiny-q8_0.gguf');
    synthModel({ ...preset('test-tiny'), contextLength: 2 * REPLAY_WINDOW + 64 }, 'q8_0', qfile, { seed: 12 });
    // the default pack with its q8_0 decode GEMV entry served by matmul.vecq (RPT 2: rows in rope pairs)
    const pack = withVecqGemvs(new Map([['q8_0', spirv]]));
    assert.ok(pack.manifest.entries.some((e) => e.family === matmulVecq.id), 'the q8_0 GEMV entry replaced');
    const { fused, plain, prompt } = openRopePair(qfile, pack, 'f16');
    try {
      // replayed decode steps (step-buffer positions) at positions 17.., logits side by side
      for (let pos = 17; pos < 24; pos++) {
        const a = fused.graph.forward([prompt[pos % 16]], pos, 'logits');
        const b = plain.graph.forward([prompt[pos % 16]], pos, 'logits');
        const err = relativeError(a, b);
        assert.ok(err < 1e-4, `position ${pos}: fused vs separate rope, logits rel err ${err}`);
      }
      assert.ok(fused.graph.stats.replayed >= 5, `replayed ${fused.graph.stats.replayed}`);
      // chained greedy decoding, across a window boundary
      const pos0 = REPLAY_WINDOW - 20;
      for (const s of [fused, plain]) for (let p = 24; p < pos0; p += 16) s.graph.forward(prompt.slice(0, Math.min(16, pos0 - p)), p, 'none');
      const ids = fused.graph.greedy(prompt[2], pos0, 40);
      assert.deepEqual([...ids], [...plain.graph.greedy(prompt[2], pos0, 40)]);
      assert.ok(new Set(ids).size > 1, 'the ids vary');
    } finally {
      fused.close();
      plain.close();
    }
  });

  test('rope fused into the decode QKV GEMV writes q8_0 / q4_0 caches (test-k, head dim 64): no rope_kv, the logits of separate dispatches', (t) => {
    const spirv = builtSpirv('matmul.vecq', 'q8_0');
    if (!spirv) return t.skip('no built matmul.vecq/q8_0 SPIR-V (dist/kernels)');
    const qfile = path.join(dir, 'test-k-q8_0.gguf');
    synthModel({ ...preset('test-k'), contextLength: 2 * REPLAY_WINDOW + 64 }, 'q8_0', qfile, { seed: 13 });
    // RPT 4: 64 rows per workgroup (WG 128, KSPLIT 8), whole cache-row groups
    const pack = withVecqGemvs(new Map([['q8_0', spirv]]), 4);
    for (const kvType of ['q8_0', 'q4_0'] as const) {
      const { fused, plain, prompt } = openRopePair(qfile, pack, kvType);
      try {
        // the same values quantized by the same rule (partials/kv_quantize): bitwise equal logits on lavapipe; a compiler
        // that contracts the rope arithmetic differently in the two kernels may move a value at a rounding boundary one step
        for (let pos = 17; pos < 24; pos++) {
          const a = fused.graph.forward([prompt[pos % 16]], pos, 'logits');
          const b = plain.graph.forward([prompt[pos % 16]], pos, 'logits');
          const err = relativeError(a, b);
          assert.ok(err < 1e-3, `${kvType} position ${pos}: fused vs separate rope, logits rel err ${err}`);
        }
      } finally {
        fused.close();
        plain.close();
      }
    }
  });

  /**
   * One model through the fused feed-forward and through the two GEMVs: the default pack with its decode GEMVs of
   * `types` on matmul.vecq (the same 8-bit activations as ffn.vecq) plus tuned-looking ffn entries for `ffnKeys` at
   * N = 1 (taken at the shape level for N > 1); the same logits within 3e-3 (the two paths sum the gate and up
   * products in different orders, so an h value at a rounding boundary of its 8-bit block may land one step away:
   * ~1e-3 on the logits, as matmul.vecq's exact bound), float64 within 5e-2, the same greedy ids.
   */
  const ffnCase = (t: { skip: (m: string) => void }, presetName: string, synthType: 'q8_0' | 'q4_k_m', types: string[], ffnKeys: string[], seed: number) => {
    const vecqs = types.map((ty) => [ty, builtSpirv('matmul.vecq', ty)] as const);
    const ffns = ffnKeys.map((k) => [k, builtSpirv('ffn.vecq', k)] as const);
    const missing = [...vecqs.filter(([, b]) => !b).map(([k]) => `matmul.vecq/${k}`), ...ffns.filter(([, b]) => !b).map(([k]) => `ffn.vecq/${k}`)];
    if (missing.length) return t.skip(`no built SPIR-V for ${missing.join(', ')} (dist/kernels)`);
    const cfg = preset(presetName);
    const qfile = path.join(dir, `ffn-${presetName}-${synthType}.gguf`);
    synthModel({ ...cfg, contextLength: 2 * REPLAY_WINDOW + 64 }, synthType, qfile, { seed });
    const pack = withVecqGemvs(new Map(vecqs.map(([ty, b]) => [ty, b!])));
    for (const [key, b] of ffns) {
      addFfnEntry(pack, cfg, key, b!);
    }
    const open = (fuse: boolean) => openWithEnv('KPACK_FUSE_FFN', fuse ? '1' : '0', qfile, [pack]);
    const fused = open(true);
    const plain = open(false);
    const g = GgufFile.open(qfile);
    try {
      const prompt = Array.from({ length: 16 }, (_, i) => (i * 53 + 7) % cfg.vocab);
      for (const s of [fused, plain]) s.graph.forward(prompt, 0, 'none');
      const fusedOps = decodeStepOps(fused, prompt[1], 16), plainOps = decodeStepOps(plain, prompt[1], 16);
      assert.equal(fusedOps.filter((o) => o === 'ffn').length, cfg.layers, `fused step ops: ${fusedOps.join(' ')}`);
      assert.equal(plainOps.filter((o) => o === 'ffn').length, 0, `plain step ops: ${plainOps.join(' ')}`);
      assert.equal(plainOps.length - fusedOps.length, cfg.layers, 'one dispatch fewer per layer');
      // replayed steps, 1-token and 3-token (the shape-level entry), side by side and against float64
      const ref = new LlamaReference(g, cfg, false);
      [...prompt, prompt[1]].forEach((tok, pos) => ref.step(tok, pos));
      for (let pos = 17; pos < 24; pos++) {
        const tok = prompt[pos % 16];
        const a = fused.graph.forward([tok], pos, 'logits');
        const b = plain.graph.forward([tok], pos, 'logits');
        const r = ref.step(tok, pos);
        assert.ok(relativeError(a, b) < 3e-3, `position ${pos}: fused vs two GEMVs, logits rel err ${relativeError(a, b)}`);
        assert.ok(relativeError(a, r) < 5e-2, `position ${pos}: fused vs float64, logits rel err ${relativeError(a, r)}`);
      }
      const three = [prompt[3], prompt[4], prompt[5]];
      assert.ok(relativeError(fused.graph.forward(three, 24, 'logits'), plain.graph.forward(three, 24, 'logits')) < 3e-3, '3-token step');
      assert.ok(fused.graph.stats.replayed >= 5, `replayed ${fused.graph.stats.replayed}`);
      // chained greedy decoding (the first Y cleared per chained step), across a window boundary
      const pos0 = REPLAY_WINDOW - 20;
      for (const s of [fused, plain]) for (let p = 27; p < pos0; p += 16) s.graph.forward(prompt.slice(0, Math.min(16, pos0 - p)), p, 'none');
      const ids = fused.graph.greedy(prompt[2], pos0, 40);
      assert.deepEqual([...ids], [...plain.graph.greedy(prompt[2], pos0, 40)]);
      assert.ok(new Set(ids).size > 1, 'the ids vary');
    } finally {
      g.close();
      fused.close();
      plain.close();
    }
  };

  /**
   * One model through attention_o.vec (attention, O projection and residual in one dispatch) and through
   * attention.vec + the O GEMV: the default pack plus tuned-looking attention_o entries for Wo type `wo` (f16 K/V) at
   * one query, every depth (KV_CHUNK 32: replayed steps past 32 positions run split-KV, the last split merging and
   * projecting), and, with `ffn`, an ffn.vecq entry in both sessions (the attention adds into the stream buffer
   * the fused feed-forward reads next). Same logits within 1e-4 (both f32; 3e-3 with ffn.vecq's 8-bit activations),
   * float64 within 5e-2, same greedy ids.
   */
  const attentionOCase = (t: { skip: (m: string) => void }, synthType: 'q8_0' | 'q4_0', ffn: boolean, seed: number) => {
    const key = `${synthType}.f16`;
    const aoSpirv = builtSpirv(attentionOVec.id, key);
    const ffnSpirv = ffn ? builtSpirv('ffn.vecq', synthType) : null;
    if (!aoSpirv || (ffn && !ffnSpirv)) return t.skip(`no built SPIR-V for ${attentionOVec.id}/${key}${ffn ? ' or ffn.vecq' : ''} (dist/kernels)`);
    const cfg = preset('test-k');
    const qfile = path.join(dir, `attn-o-${synthType}.gguf`);
    synthModel({ ...cfg, contextLength: 2 * REPLAY_WINDOW + 64 }, synthType, qfile, { seed });
    const base = readPack(defaultPack());
    const pack: Pack = { ...base, manifest: { ...base.manifest, entries: [...base.manifest.entries] }, blobs: new Map(base.blobs) };
    pack.blobs.set(sha(aoSpirv), aoSpirv);
    const match = { instance: key, shape: { D: cfg.headDim, heads: cfg.heads, kvHeads: cfg.kvHeads, dim: cfg.dim }, range: { queries: [1, 1] as [number, number] } };
    pack.manifest.entries.push({ op: 'attention_o', bucket: `attention_o/${key}/test`, match, family: attentionOVec.id, abi: entryAbi(attentionOVec, key), instance: key, params: { ...attentionOVec.defaults, KV_CHUNK: 32, OTPR: 2, OSPLIT: 2 }, spirv: sha(aoSpirv), stats: [] });
    if (ffnSpirv) {
      addFfnEntry(pack, cfg, synthType, ffnSpirv);
    }
    const open = (fuse: boolean) => openWithEnv('KPACK_FUSE_ATTN_O', fuse ? '1' : '0', qfile, [pack]);
    // f32 both ways; with ffn.vecq an x value at a rounding boundary of its 8-bit block may land one step away (~1e-3, ffnCase)
    const tol = ffn ? 3e-3 : 1e-4;
    const fused = open(true);
    const plain = open(false);
    const g = GgufFile.open(qfile);
    try {
      const prompt = Array.from({ length: 16 }, (_, i) => (i * 53 + 7) % cfg.vocab);
      for (const s of [fused, plain]) s.graph.forward(prompt, 0, 'none');
      const fusedOps = decodeStepOps(fused, prompt[1], 16), plainOps = decodeStepOps(plain, prompt[1], 16);
      assert.equal(fusedOps.filter((o) => o === 'attention_o').length, cfg.layers, `fused step ops: ${fusedOps.join(' ')}`);
      assert.equal(fusedOps.filter((o) => o === 'attention').length, 0, `fused step ops: ${fusedOps.join(' ')}`);
      assert.equal(plainOps.filter((o) => o === 'attention_o').length, 0, `plain step ops: ${plainOps.join(' ')}`);
      assert.equal(plainOps.length - fusedOps.length, cfg.layers, 'one dispatch fewer per layer');
      assert.equal(fusedOps.filter((o) => o === 'ffn').length, ffn ? cfg.layers : 0, 'the fused feed-forward in both');
      const ref = new LlamaReference(g, cfg, false);
      [...prompt, prompt[1]].forEach((tok, pos) => ref.step(tok, pos));
      // replayed steps at positions 17.. (splits > 1 from position 32 on)
      for (let pos = 17; pos < 40; pos++) {
        const tok = prompt[pos % 16];
        const a = fused.graph.forward([tok], pos, 'logits');
        const b = plain.graph.forward([tok], pos, 'logits');
        const r = ref.step(tok, pos);
        assert.ok(relativeError(a, b) < tol, `position ${pos}: attention_o vs attention + O GEMV, logits rel err ${relativeError(a, b)}`);
        assert.ok(relativeError(a, r) < 5e-2, `position ${pos}: attention_o vs float64, logits rel err ${relativeError(a, r)}`);
      }
      assert.ok(fused.graph.stats.replayed >= 15, `replayed ${fused.graph.stats.replayed}`);
      // a 3-token step (the shape-level entry)
      const three = [prompt[3], prompt[4], prompt[5]];
      assert.ok(relativeError(fused.graph.forward(three, 40, 'logits'), plain.graph.forward(three, 40, 'logits')) < tol, '3-token step');
      // chained greedy decoding across a window boundary (8 splits of 32 then 16)
      const pos0 = REPLAY_WINDOW - 20;
      for (const s of [fused, plain]) for (let p = 43; p < pos0; p += 16) s.graph.forward(prompt.slice(0, Math.min(16, pos0 - p)), p, 'none');
      const ids = fused.graph.greedy(prompt[2], pos0, 40);
      assert.deepEqual([...ids], [...plain.graph.greedy(prompt[2], pos0, 40)]);
      // (these synthetic models' greedy runs settle on one id, so the chain is also checked against logits there)
      const last = fused.graph.forward([ids[38]], pos0 + 39, 'logits');
      assert.ok(relativeError(last, plain.graph.forward([ids[38]], pos0 + 39, 'logits')) < tol, 'logits after the chains');
    } finally {
      g.close();
      fused.close();
      plain.close();
    }
  };

  test('attention + O projection fused (attention_o.vec, q4_0 Wo, with the fused feed-forward) gives the logits and greedy ids of attention + the O GEMV', (t) => {
    attentionOCase(t, 'q4_0', true, 15);
  });

  test('attention + O projection fused (attention_o.vec, q8_0 Wo) gives the logits and greedy ids of attention + the O GEMV', (t) => {
    attentionOCase(t, 'q8_0', false, 13);
  });

  test('a tuned attention_o entry serves only the depths of its bucket: at another depth attention + the O GEMV run', (t) => {
    const key = 'q8_0.f16';
    const aoSpirv = builtSpirv(attentionOVec.id, key);
    if (!aoSpirv) return t.skip(`no built SPIR-V for ${attentionOVec.id}/${key} (dist/kernels)`);
    const cfg = preset('test-k');
    const qfile = path.join(dir, 'attn-o-depth.gguf');
    synthModel({ ...cfg, contextLength: REPLAY_WINDOW + 64 }, 'q8_0', qfile, { seed: 17 });
    const base = readPack(defaultPack());
    const pack: Pack = { ...base, manifest: { ...base.manifest, entries: [...base.manifest.entries] }, blobs: new Map(base.blobs) };
    pack.blobs.set(sha(aoSpirv), aoSpirv);
    // tuned for depths 64-1023 only: at depth 17 the selector's nearest-depth ('shape') fallback would pick it
    const match = { instance: key, shape: { D: cfg.headDim, heads: cfg.heads, kvHeads: cfg.kvHeads, dim: cfg.dim }, range: { queries: [1, 1] as [number, number], depth: [64, 1023] as [number, number] } };
    pack.manifest.entries.push({ op: 'attention_o', bucket: `attention_o/${key}/test`, match, family: attentionOVec.id, abi: entryAbi(attentionOVec, key), instance: key, params: { ...attentionOVec.defaults, KV_CHUNK: 32 }, spirv: sha(aoSpirv), stats: [] });
    const s = openWithEnv('KPACK_FUSE_ATTN_O', '1', qfile, [pack]);
    try {
      const prompt = Array.from({ length: 64 }, (_, i) => (i * 53 + 7) % cfg.vocab);
      for (let p = 0; p < 17; p += 16) s.graph.forward(prompt.slice(p, Math.min(17, p + 16)), p, 'none');
      const shallow = decodeStepOps(s, prompt[1], 17);
      assert.equal(shallow.filter((o) => o === 'attention_o').length, 0, `depth 17 step ops: ${shallow.join(' ')}`);
      assert.equal(shallow.filter((o) => o === 'attention').length, cfg.layers, `depth 17 step ops: ${shallow.join(' ')}`);
      for (let p = 18; p < 64; p += 16) s.graph.forward(prompt.slice(p, Math.min(64, p + 16)), p, 'none');
      const deep = decodeStepOps(s, prompt[2], 64);
      assert.equal(deep.filter((o) => o === 'attention_o').length, cfg.layers, `depth 64 step ops: ${deep.join(' ')}`);
    } finally {
      s.close();
    }
  });

  test('the fused feed-forward (one ffn.vecq dispatch per layer) gives the logits and greedy ids of the two GEMVs', (t) => {
    ffnCase(t, 'test-tiny', 'q8_0', ['q8_0'], ['q8_0'], 13);
  });

  test('the fused feed-forward of a Q4_K_M model (q4_k gate|up, q4_k or q6_k down per layer) as the two GEMVs', (t) => {
    ffnCase(t, 'test-k', 'q4_k_m', ['q4_k', 'q6_k'], ['q4_k', 'q4_k.q6_k'], 15);
  });
});
