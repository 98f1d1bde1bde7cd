/**
 * Tuning through the HIP back-end (tuner/hip/autotune.ts, `kpack autotune --backend hip|all`), the parts
 * that run without a GPU: which HIP families a workload gets, the reduced validation shapes, and the CLI's
 * error without a HIP / CUDA device (before any tuning). The timing and validation loop itself needs a
 * device (docs/runs: the H200 runs).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { hip } from '../native/hip';
import { HIP_VALIDATE_COLS, HIP_VALIDATE_QUERIES, HIP_VALIDATE_ROWS, hipCandidatesFamilies, hipValidationShape } from '../tuner/hip/autotune';
import { attentionShapeAt, attentionWorkload, matmulWorkload, workloadsFor } from '../tuner/workloads';
import { preset } from '../runtime/presets';
import { kpack } from './support/cli';

const dims = { name: 'llama-3.2-1b', ...preset('llama-3.2-1b'), weightType: 'q4_0' as const, kvType: 'f16' as const };

describe('HIP autotune: candidate families and validation shapes', () => {
  it('GEMV workloads get matmul.vec and matmul.tile, GEMM only matmul.tile; decode attention attention.vec, prompts attention.tile', () => {
    const ids = (w: Parameters<typeof hipCandidatesFamilies>[0]) => hipCandidatesFamilies(w).map((c) => `${c.hf.family.id}/${c.inst.key}`);
    assert.deepEqual(ids(matmulWorkload('q4_0', { M: 3072, N: 1, K: 2048 })), ['matmul.vec/q4_0', 'matmul.tile/q4_0']);
    assert.deepEqual(ids(matmulWorkload('q6_k', { M: 128256, N: 512, K: 2048 })), ['matmul.tile/q6_k']);
    assert.deepEqual(ids(attentionWorkload('f16', attentionShapeAt(dims, 1, 4096))), ['attention.vec/f16']);
    assert.deepEqual(ids(attentionWorkload('f16', attentionShapeAt(dims, 512, 0))), ['attention.tile/f16']);
    // every matmul and attention workload of a preset's default tuning has at least one HIP family (the fused ffn and attention_o have no HIP port)
    for (const w of workloadsFor(dims, { batches: [1, 512], depths: [0, 4096] })) if (w.op !== 'ffn' && w.op !== 'attention_o') assert.ok(ids(w).length > 0, w.label);
  });

  it('GEMM workloads get matmul.coopmat first where the device has a matrix instruction at its warp size; elsewhere it is pruned with the reason', () => {
    const w = matmulWorkload('q4_0', { M: 2048, N: 512, K: 2048 });
    const ids = (dev: { arch: string; warpSize: number }, pruned?: string[]) => hipCandidatesFamilies(w, dev, pruned).map((c) => c.hf.family.id);
    assert.deepEqual(ids({ arch: 'sm_90', warpSize: 32 }), ['matmul.coopmat', 'matmul.tile']);
    assert.deepEqual(ids({ arch: 'gfx90a', warpSize: 64 }), ['matmul.coopmat', 'matmul.tile']);
    assert.deepEqual(ids({ arch: 'gfx1100', warpSize: 32 }), ['matmul.coopmat', 'matmul.tile']);
    for (const [arch, warpSize, why] of [['sm_75', 32, /no half-precision matrix instruction on sm_75/], ['gfx1030', 32, /no half-precision matrix instruction on gfx1030/], ['gfx1100', 64, /wmma on gfx1100 needs wave32/]] as const) {
      const pruned: string[] = [];
      assert.deepEqual(ids({ arch, warpSize }, pruned), ['matmul.tile'], arch);
      assert.equal(pruned.length, 1);
      assert.match(pruned[0], new RegExp(`^matmul\\.coopmat: .*${why.source}`));
    }
    // GEMV shapes keep matmul.vec + matmul.tile; f32 weights have no coopmat port (rounded to f16 it misses the f32 bound)
    assert.deepEqual(hipCandidatesFamilies(matmulWorkload('q4_0', { M: 2048, N: 4, K: 2048 }), { arch: 'sm_90', warpSize: 32 }).map((c) => c.hf.family.id), ['matmul.vec', 'matmul.tile']);
    assert.deepEqual(hipCandidatesFamilies(matmulWorkload('f32', { M: 64, N: 64, K: 64 }), { arch: 'sm_90', warpSize: 32 }).map((c) => c.hf.family.id), ['matmul.tile']);
  });

  it('validation shapes keep K, D and the depth and shrink rows, columns and queries', () => {
    assert.deepEqual(hipValidationShape(matmulWorkload('q4_0', { M: 14336, N: 512, K: 4096 })), { M: HIP_VALIDATE_ROWS, N: HIP_VALIDATE_COLS, K: 4096 });
    assert.deepEqual(hipValidationShape(matmulWorkload('f16', { M: 40, N: 3, K: 64 })), { M: 40, N: 3, K: 64 });
    const s = attentionShapeAt(dims, 512, 4096);
    const v = hipValidationShape(attentionWorkload('f16', s)) as typeof s;
    assert.equal(v.queries, HIP_VALIDATE_QUERIES);
    assert.equal(v.kvLength, s.kvLength);
    assert.equal(v.queryPos0 + v.queries, s.queryPos0 + s.queries, 'the last query rows: the longest causal rows');
    assert.equal(v.D, s.D);
  });
});

describe('kpack autotune --backend', { skip: hip.available().ok ? 'a HIP / CUDA device is present' : false }, () => {
  it('hip and all fail at once, naming --backend and the missing device, and write nothing', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kpack-hip-tune-'));
    try {
      for (const backend of ['hip', 'all']) {
        const out = path.join(dir, `${backend}.kpack`);
        const t0 = Date.now();
        const r = kpack(['autotune', '--preset', 'test-tiny', '--backend', backend, '--budget', '60s', '--out', out], { KPACK_CACHE: dir });
        assert.notEqual(r.status, 0);
        assert.match(r.stderr, new RegExp(`--backend ${backend}: no HIP / CUDA device: HIP back-end unavailable`));
        assert.ok(Date.now() - t0 < 30_000, 'before any tuning');
        assert.ok(!fs.existsSync(out));
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
