/**
 * Generator stage without a GPU: every family's template renders and declares exactly the schema's
 * spec constants (ids, names, types), local_size_x_id = 0 is WG, push-constant blocks match
 * pushConstantBytes, defaults survive pruning on portable limits; compile cache hits; compile errors
 * name family, instance and line; manifest generation (coopmat skipped without the extension) and
 * loading. attention.coopmat: reject() rules, and a sample of its variants per head dim specialized
 * (spirv-opt) and validated (spirv-val), with the specialized shared arrays summing to sharedMemoryBytes().
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { CompileError, compileGlsl, compileInstance, findCompiler } from '../generator/compile';
import { portableLimits } from '../generator/device-limits';
import { families, familiesForOp } from '../generator/families';
import { attentionCoopmat } from '../generator/families/attention_coopmat';
import { hasCoopmatShape, matmulCoopmat } from '../generator/families/matmul_coopmat';
import { matmulCoopmat2 } from '../generator/families/matmul_coopmat2';
import { matmulTile } from '../generator/families/matmul_tile';
import { matmulVec } from '../generator/families/matmul_vec';
import { rmsNorm } from '../generator/families/rms_norm';
import { generate, loadManifest, readSpirv } from '../generator/manifest';
import { enumerateVariants } from '../generator/prune';
import { renderInstance } from '../generator/render';
import { type DeviceLimits, type Params, specConstants } from '../generator/schema';
import { findSpirvOpt, specializeAndValidate, workgroupBytes } from './support/spirv';

const MY_FAMILIES = ['matmul.tile', 'matmul.vec', 'matmul.coopmat', 'matmul.coopmat2', 'matmul.vecq', 'attention.coopmat', 'rms_norm', 'rope_kv', 'swiglu', 'add', 'embed', 'argmax'];
const glslType: Record<string, string> = { uint: 'u32', int: 'i32', float: 'f32', bool: 'bool' };

const coopmatLimits: DeviceLimits = {
  ...portableLimits,
  subgroupSize: 32,
  maxSharedMemoryBytes: 49152,
  maxWorkgroupInvocations: 1024,
  maxWorkgroupSizeX: 1024,
  coopmat: true,
  coopmat2: true,
  shaderFloat16: true,
  coopmatShapes: [{ M: 16, N: 16, K: 16, aType: 'f16', bType: 'f16', cType: 'f32', resultType: 'f32', scope: 'subgroup' }],
};

describe('render', () => {
  for (const f of families.filter((x) => MY_FAMILIES.includes(x.id))) {
    it(`${f.id}: spec constants and push block match the schema`, () => {
      for (const inst of f.instances) {
        const src = renderInstance(f, inst);
        const found = [...src.matchAll(/layout\s*\(\s*constant_id\s*=\s*(\d+)\s*\)\s*const\s+(\w+)\s+(\w+)/g)].map((m) => ({
          id: Number(m[1]),
          type: glslType[m[2]],
          name: m[3],
        }));
        const want = f.params.map((s) => ({ id: s.specId, type: s.type ?? 'u32', name: s.name }));
        assert.deepEqual(found.sort((a, b) => a.id - b.id), want.sort((a, b) => a.id - b.id), `${f.id}/${inst.key}`);
        assert.match(src, /layout\s*\(\s*local_size_x_id\s*=\s*0\s*\)\s*in;/);
        assert.equal(f.params.find((s) => s.specId === 0)?.name, 'WG');
        const push = /uniform\s+PC\s*\{([^}]*)\}/.exec(src);
        const fields = push ? push[1].split(';').filter((x) => x.trim()).length : 0;
        assert.equal(fields * 4, f.pushConstantBytes, `${f.id}: push block has ${fields} 4-byte fields`);
        const bindings = new Set([...src.matchAll(/binding\s*=\s*(\d+)/g)].map((m) => Number(m[1])));
        assert.deepEqual([...bindings].sort(), f.bindings.map((_, i) => i), `${f.id}: bindings`);
      }
    });
  }

  it('defaults are accepted on portable limits (coopmat and other device-feature families: on an H200-like device)', () => {
    for (const f of families.filter((x) => MY_FAMILIES.includes(x.id))) {
      const needsFeature = f.id.includes('coopmat') || f.instances.every((i) => i.requiresDevice?.length);
      const limits = needsFeature ? coopmatLimits : portableLimits;
      for (const inst of f.instances) assert.equal(f.reject(f.defaults, inst, limits), null, `${f.id}/${inst.key}`);
      for (const p of f.params) assert.ok(p.values.includes(f.defaults[p.name]), `${f.id}: default ${p.name} not among its values`);
    }
  });

  it('registry', () => {
    assert.deepEqual(familiesForOp('matmul').map((f) => f.id).sort(), ['matmul.coopmat', 'matmul.coopmat2', 'matmul.tile', 'matmul.vec', 'matmul.vecq']);
    assert.ok(familiesForOp('attention').length >= 1);
  });
});

describe('prune', () => {
  it('matmul.tile: kept points satisfy the tile relation, reasons counted', () => {
    const r = enumerateVariants(matmulTile, matmulTile.instances[0], portableLimits);
    assert.ok(r.kept.length > 10);
    for (const p of r.kept) assert.equal((p.BM / p.TM) * (p.BN / p.TN), p.WG);
    assert.ok(r.rejected['WG != (BM/TM)*(BN/TN)'] > 0);
    const total = r.kept.length + Object.values(r.rejected).reduce((a, b) => a + b, 0);
    assert.equal(total, matmulTile.params.reduce((n, s) => n * s.values.length, 1));
  });
  it('matmul.vec: subgroup reduction limited to KSPLIT <= subgroup size', () => {
    const r = enumerateVariants(matmulVec, matmulVec.instances[0], { ...portableLimits, subgroupSize: 8 });
    assert.ok(r.kept.every((p) => p.REDUCE === 1 || p.KSPLIT <= 8));
  });
  it('matmul.coopmat: nothing without coopmat, shapes from the device', () => {
    assert.equal(enumerateVariants(matmulCoopmat, matmulCoopmat.instances[0], portableLimits).kept.length, 0);
    const r = enumerateVariants(matmulCoopmat, matmulCoopmat.instances[0], coopmatLimits);
    assert.ok(r.kept.length > 0);
    assert.ok(r.kept.every((p) => hasCoopmatShape(coopmatLimits, p.CM, p.CN, p.CK) && p.WG === p.WM * p.WN * 32));
  });
  it('matmul.coopmat2: nothing without coopmat2; accumulator and split-K rules', () => {
    const inst = matmulCoopmat2.instances[0];
    assert.equal(enumerateVariants(matmulCoopmat2, inst, { ...coopmatLimits, coopmat2: false }).kept.length, 0);
    const r = enumerateVariants(matmulCoopmat2, inst, coopmatLimits);
    assert.ok(r.kept.length >= 50 && r.kept.length <= 200, `${r.kept.length} points`);
    for (const p of r.kept) {
      assert.ok((p.BM * p.BN) / p.WG <= 128 && (p.BM * p.BN) / p.WG >= 16);
      assert.ok(p.SPLIT_WGS === 0 || p.BN <= 64);
    }
    assert.match(String(matmulCoopmat2.reject({ ...matmulCoopmat2.defaults, BM: 256, BN: 256 }, inst, coopmatLimits)), /over 128/);
    assert.match(String(matmulCoopmat2.reject({ ...matmulCoopmat2.defaults, SPLIT_WGS: 128 }, inst, coopmatLimits)), /split-K/);
    const plan = matmulCoopmat2.plan({ M: 100, N: 20, K: 1000 }, { ...matmulCoopmat2.defaults, BN: 32, SPLIT_WGS: 128 }, inst);
    assert.deepEqual(plan.steps.map((x) => x.specOverrides?.PASS ?? 0), [2, 0, 1]);
    assert.equal(plan.steps[1].groups[2], 16); // 1 workgroup -> 128 wanted, 16 K steps of 64
  });
});

describe('compile', () => {
  it('caches by content (second compile is a hit, same bytes)', async () => {
    const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kpack-cache-test-'));
    try {
      const inst = rmsNorm.instances[0];
      const a = await compileInstance(rmsNorm, inst, { cacheDir });
      const b = await compileInstance(rmsNorm, inst, { cacheDir });
      assert.equal(a.cached, false);
      assert.equal(b.cached, true);
      assert.equal(a.sha256, b.sha256);
      assert.equal(a.sha256, createHash('sha256').update(b.spirv).digest('hex'));
      assert.equal(new DataView(a.spirv.buffer, a.spirv.byteOffset).getUint32(0, true), 0x07230203); // SPIR-V magic
    } finally {
      fs.rmSync(cacheDir, { recursive: true, force: true });
    }
  });

  it('errors name family, instance and line', async () => {
    const source = '#version 450\nlayout(local_size_x = 1) in;\nvoid main() {\n  undeclared_thing = 1;\n}\n';
    await assert.rejects(compileGlsl({ family: 'fam.x', instance: 'inst1', source }, { cacheDir: null }), (e: unknown) => {
      assert.ok(e instanceof CompileError);
      assert.match(e.message, /fam\.x/);
      assert.match(e.message, /inst1/);
      assert.match(e.message, /fam\.x\/inst1:4:/);
      return true;
    });
  });

  it('every instance compiles (coopmat only with a capable compiler)', async () => {
    const compiler = await findCompiler();
    const jobs = families
      .filter((f) => MY_FAMILIES.includes(f.id))
      .flatMap((f) => f.instances.map((i) => ({ f, i })))
      .filter(({ i }) => (i.requiresCompilerExtensions ?? []).every((e) => compiler.extensions[e]));
    const results = await Promise.all(jobs.map(({ f, i }) => compileInstance(f, i)));
    assert.ok(results.every((r) => r.spirv.length > 0));
  });
});

/** spirv-opt of the compiler's toolchain (generator/install-glslang.sh unpacks it beside spirv-val), or null. */
function toolchainSpirvOpt(spirvVal: string | null): string[] | null {
  if (!spirvVal) return null;
  const root = path.join(path.dirname(spirvVal), 'root');
  const opt = path.join(root, 'usr', 'bin', 'spirv-opt');
  const lib = path.join(root, 'usr', 'lib', 'x86_64-linux-gnu');
  const ld = path.join(lib, 'ld-linux-x86-64.so.2');
  if (!fs.existsSync(opt) || !fs.existsSync(ld)) return null;
  return [ld, '--library-path', `${lib}:${path.join(root, 'lib', 'x86_64-linux-gnu')}`, opt];
}

describe('matmul.coopmat / matmul.coopmat2 specialized', () => {
  it('every instance (and the coopmat EMULATE test rendering) at sampled points of the pruned space, spec constants frozen and optimized, passes spirv-val', async (t) => {
    const compiler = await findCompiler();
    const opt = toolchainSpirvOpt(compiler.spirvVal);
    if (!compiler.extensions.GL_KHR_cooperative_matrix || !compiler.extensions.GL_NV_cooperative_matrix2 || !opt || !compiler.spirvVal) {
      t.skip('skipped: needs the coopmat-capable toolchain (generator/install-glslang.sh) with spirv-opt');
      return;
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kpack-spec-'));
    try {
      const jobs = [
        ...matmulCoopmat.instances.map((i) => ({ f: matmulCoopmat, i })),
        ...matmulCoopmat.instances.map((i) => ({ f: matmulCoopmat, i: { key: `${i.key}.emulated`, defines: { ...i.defines, EMULATE: true } } })),
        ...matmulCoopmat2.instances.map((i) => ({ f: matmulCoopmat2, i })),
      ];
      for (const { f, i: inst } of jobs) {
        const spv = path.join(dir, `${f.id}.${inst.key}.spv`);
        fs.writeFileSync(spv, (await compileInstance(f, inst)).spirv);
        const kept = enumerateVariants(f, f.instances[0], coopmatLimits).kept;
        assert.ok(kept.length > 0, f.id);
        const sample = [f.defaults, kept[0], kept[Math.floor(kept.length / 2)], kept[kept.length - 1]];
        for (const [i, p] of sample.entries()) {
          for (const pass of [0, 1, 2]) {
            const spec = f.params.map((s) => `${s.specId}:${s.name === 'PASS' ? pass : p[s.name]}`).join(' ');
            const out = path.join(dir, `${f.id}.${inst.key}.${i}.${pass}.spv`);
            execFileSync(opt[0], [...opt.slice(1), '--set-spec-const-default-value', spec, '--freeze-spec-const', '-O', spv, '-o', out]);
            execFileSync(compiler.spirvVal, ['--target-env', 'vulkan1.3', out]);
          }
        }
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('manifest', () => {
  it('generate + loadManifest; coopmat skipped by a compiler without it', async () => {
    const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kpack-manifest-test-'));
    try {
      const real = await findCompiler();
      const compiler = { ...real, extensions: { ...real.extensions, GL_KHR_cooperative_matrix: false } };
      const m = await generate({ outDir, families: [matmulTile, matmulCoopmat, rmsNorm], compile: { compiler }, log: () => {} });
      const back = loadManifest(outDir);
      assert.deepEqual(back, JSON.parse(JSON.stringify(m)));
      assert.equal(back.toolchain.glslang, real.version);
      assert.match(back.toolchain.handlebars, /^4\./);
      const tile = back.families.find((f) => f.id === 'matmul.tile')!;
      assert.deepEqual(tile.instances.map((i) => i.key).sort(), ['f16', 'f32', 'q4_0', 'q4_k', 'q6_k', 'q8_0']);
      for (const i of tile.instances) assert.equal(createHash('sha256').update(readSpirv(outDir, i.spirv)).digest('hex'), i.spirv);
      assert.deepEqual(tile.defaults, matmulTile.defaults);
      const cm = back.families.find((f) => f.id === 'matmul.coopmat')!;
      assert.equal(cm.instances.length, 0);
      assert.equal(cm.skipped.length, matmulCoopmat.instances.length);
      assert.match(cm.skipped[0].reason, /GL_KHR_cooperative_matrix/);
      assert.ok(!fs.readdirSync(outDir).some((f) => f.endsWith('.tmp')));
    } finally {
      fs.rmSync(outDir, { recursive: true, force: true });
    }
  });
});

describe('attention.coopmat schema and specialization', () => {
  const F = attentionCoopmat;
  const inst = F.instances[0];
  const p = (over: Partial<Params>, D = 128): Params => ({ ...F.defaults, ...over, D }) as Params;
  const rejects = (over: Partial<Params>, D: number, pattern: RegExp, limits = coopmatLimits) => {
    const why = F.reject(p(over, D), inst, limits);
    assert.ok(why !== null && pattern.test(why), `${JSON.stringify(over)} D=${D}: ${why}`);
  };
  /** The D-pinned space (the tuner pins D to the shape before pruning). */
  const pinned = (D: number) => enumerateVariants({ ...F, params: F.params.map((s) => (s.name === 'D' ? { ...s, values: [D] } : s)) }, inst, coopmatLimits).kept;

  it('reject(): device features, subgroup split, tile relations, shared memory, registers', () => {
    for (const D of [64, 72, 80, 96, 128]) assert.equal(F.reject(p({}, D), inst, coopmatLimits), null, `defaults at D=${D}`);
    rejects({}, 128, /cooperative matrices/, portableLimits);
    rejects({}, 128, /shaderFloat16/, { ...coopmatLimits, shaderFloat16: false });
    rejects({}, 128, /16x16x16/, { ...coopmatLimits, coopmatShapes: [{ ...coopmatLimits.coopmatShapes[0], cType: 'f16', resultType: 'f16' }] });
    rejects({}, 12, /multiple of 8/);
    rejects({ WG: 256 }, 128, /RS\*CS\*subgroupSize/);
    rejects({ BR: 32, RS: 4 }, 128, /BR=32 not a multiple of 16\*RS/);
    rejects({ WG: 256, RS: 2, CS: 4, BC: 32 }, 128, /BC=32 not a multiple of 16\*CS/);
    rejects({ WG: 128, RS: 1, CS: 4, BR: 16, BC: 64 }, 48, /idle subgroups/);
    rejects({ BR: 128, BC: 32, WG: 256, RS: 8 }, 64, /Q_REG stages Q/);
    rejects({ PAD: 4 }, 128, /PAD=4/);
    rejects({ Q_REG: 0, BC: 64 }, 128, /shared memory/);
    rejects({}, 256, /too many registers/);
    assert.equal(F.reject(p({ WG: 256, RS: 4, CS: 2 }, 256), inst, coopmatLimits), null, 'D=256 with 8 subgroups');
    assert.equal(enumerateVariants(F, inst, portableLimits).kept.length, 0);
    for (const D of [64, 72, 96, 128, 256]) {
      const kept = pinned(D);
      assert.ok(kept.length > 0, `D=${D}: no variant`);
      for (const q of kept) {
        assert.equal(q.WG, q.RS * q.CS * 32);
        assert.ok(F.sharedMemoryBytes(q, inst) <= coopmatLimits.maxSharedMemoryBytes);
      }
    }
  });

  it('sampled variants per head dim specialize, validate, and declare exactly sharedMemoryBytes()', async (t) => {
    const compiler = await findCompiler();
    if (!compiler.extensions.GL_KHR_cooperative_matrix) return t.skip('compiler lacks GL_KHR_cooperative_matrix');
    const opt = findSpirvOpt(compiler);
    if (!opt || !compiler.spirvVal) return t.skip('no spirv-opt / spirv-val paired with the compiler');
    const { spirv } = await compileInstance(F, inst);
    const jobs: Params[] = [];
    for (const D of [64, 72, 80, 96, 128, 256]) {
      const kept = pinned(D);
      const step = Math.max(1, Math.floor(kept.length / 6));
      for (let i = 0; i < kept.length; i += step) jobs.push(kept[i]);
      if (F.reject(p({}, D), inst, coopmatLimits) === null) jobs.push(p({}, D));
    }
    for (const q of jobs) {
      const out = await specializeAndValidate(spirv, specConstants(F, q), opt, compiler.spirvVal);
      assert.equal(workgroupBytes(out), F.sharedMemoryBytes(q, inst), JSON.stringify(q));
    }
  });
});
