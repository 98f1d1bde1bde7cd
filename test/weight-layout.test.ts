/**
 * kpack's GPU layout of q8_0 / q4_0 weights (generator/weight-layout.ts): byte placement checked against the
 * layout's definition on hand-built blocks, round trips for ragged block counts, sizes, and the types left as
 * stored. Runs without a device (the kernels that read the layout are checked in kernels-*.test.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { QGROUP, fromGpuLayout, gpuWeightBytes, qgroupBytes, toGpuLayout } from '../generator/weight-layout';

function randomBytes(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, () => Math.floor(Math.random() * 256));
}

describe('GPU weight layout', () => {
  it('q4_0 / q8_0: scales of 8 blocks first, then their quants, every group 16-byte aligned', () => {
    for (const [type, bb] of [['q4_0', 18], ['q8_0', 34]] as const) {
      const blocks = 11; // one whole group and a ragged one
      const raw = randomBytes(blocks * bb);
      const gpu = toGpuLayout(type, raw);
      const gb = qgroupBytes(type);
      assert.equal(gb % 16, 0, `${type} group bytes`);
      assert.equal(gpu.length, 2 * gb);
      for (let b = 0; b < blocks; b++) {
        const g = Math.floor(b / QGROUP), j = b % QGROUP;
        assert.deepEqual([...gpu.subarray(g * gb + 2 * j, g * gb + 2 * j + 2)], [...raw.subarray(b * bb, b * bb + 2)], `${type} scale ${b}`);
        const q = bb - 2;
        assert.deepEqual([...gpu.subarray(g * gb + 16 + j * q, g * gb + 16 + (j + 1) * q)], [...raw.subarray(b * bb + 2, (b + 1) * bb)], `${type} quants ${b}`);
      }
      assert.ok(gpu.subarray(gb + 2 * 3, gb + 16).every((x) => x === 0), 'padding scales are zero');
      assert.deepEqual(fromGpuLayout(type, gpu, blocks * 32), raw);
      assert.equal(gpuWeightBytes(type, blocks * 32), gpu.length);
    }
  });

  it('other types are uploaded as stored; bad sizes are refused', () => {
    const raw = randomBytes(144 * 2);
    assert.equal(toGpuLayout('q4_k', raw), raw);
    assert.equal(gpuWeightBytes('q4_k', 512), 288);
    assert.equal(gpuWeightBytes('q6_k', 256), 210);
    assert.equal(gpuWeightBytes('f16', 10), 20);
    assert.equal(gpuWeightBytes('f32', 10), 40);
    assert.throws(() => toGpuLayout('q4_0', randomBytes(19)), /not whole q4_0 blocks of 18 bytes/);
    assert.throws(() => gpuWeightBytes('q8_0', 48), /not whole 32-element blocks/);
    assert.throws(() => fromGpuLayout('q4_0', new Uint8Array(100), 9 * 32), /needed for 288 q4_0 values/);
  });
});
