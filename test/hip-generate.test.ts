/**
 * HIP generator stage without a GPU: every HIP family's defaults and a deterministic sample of each
 * pruned space render, with every tuned parameter as a #define of its value (and used by the template
 * unless pinned), WAVE, one `extern "C"` kernel per dispatch point, and the kernel arguments in the
 * family's binding order then push order (const pointers exactly for read-only bindings). With hipcc
 * (Debian 12: hipcc + rocm-device-libs; skipped with a message without it): defaults plus a sample per
 * family compile for gfx90a and gfx1030 (2 hipcc processes), and each code object's metadata agrees with
 * the schema (LDS = sharedMemoryBytes where the template mirrors it exactly, <= otherwise; launch bound
 * = WG; wave; kernel-argument bytes; every entry present); a bad or unbuildable arch fails naming it; a
 * source rendered for wave64 does not compile for wave32; MERGE 0 and 1 of argmax and attention.vec (a
 * #define each) compile for both archs, MERGE 1's first pass with only its arrival flag added to the LDS.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { archUnbuildable, buildableArchs, hipArch, matrixUnsupported } from '../generator/hip/arch';
import { HIP_MANIFEST, generateHip, loadHipManifest, selectHipVariants } from '../generator/hip/bundle';
import { HipCompileError, compileHip, findHipcc } from '../generator/hip/compile';
import { HIP_LDS_SLACK, type HipFamily, dispatchPoints, hipArgs, hipDefaults, hipEntryName, hipFamilies, hipFamily, hipInstance, hipInstances, hipParamNames, hipParamValues, hipPrunedSpace, hipReject } from '../generator/hip/families';
import { findLlvmReadelf, kernelMetadata } from '../generator/hip/metadata';
import { renderHip } from '../generator/hip/render';
import type { Params } from '../generator/schema';

const WAVES = [32, 64] as const;
const RENDER_SAMPLE = 6;

/** The parameter list of `extern "C"` kernel `name` in `src`: [{ name, type }] in order. */
function kernelSignature(src: string, name: string): Array<{ name: string; type: string }> {
  const at = src.search(new RegExp(`KPACK_KERNEL ${name}\\(`));
  assert.ok(at >= 0, `kernel ${name} not defined`);
  const open = src.indexOf('(', at);
  const close = src.indexOf(')', open);
  return src
    .slice(open + 1, close)
    .split(',')
    .map((s) => s.trim().replace(/\s+/g, ' '))
    .map((s) => {
      const m = /^(.*?)\s*([A-Za-z_][A-Za-z0-9_]*)$/.exec(s);
      assert.ok(m, `cannot parse argument "${s}" of ${name}`);
      return { name: m[2], type: m[1] };
    });
}

/** Assertions on one rendered variant; returns the entry names. */
function checkRendered(hf: HipFamily, key: string, params: Params, wave: number): string[] {
  const inst = hipInstance(hf, key);
  const r = renderHip({ hf, instance: inst, params, wave });
  const src = r.source;
  const where = `${hf.family.id}/${key} ${JSON.stringify(params)} wave${wave}`;
  assert.equal(r.sourceSha256, createHash('sha256').update(src).digest('hex'));
  assert.match(src, /#ifndef KPACK_NVRTC\n#include <hip\/hip_runtime.h>\n#include <hip\/hip_fp16.h>\n#endif/, where);
  assert.match(src, new RegExp(`^#define WAVE ${wave}\\b`, 'm'), where);
  for (const n of hipParamNames(hf)) assert.match(src, new RegExp(`^#define ${n} ${params[n]}\\b`, 'm'), `${where}: #define ${n}`);
  for (const n of Object.keys(hf.dispatch)) assert.doesNotMatch(src, new RegExp(`^#define ${n}\\b`, 'm'), `${where}: dispatch parameter ${n} must be a template argument`);
  assert.ok(r.entries.length >= 1, where);
  const expectArgs = hipArgs(hf);
  for (const e of r.entries) {
    assert.equal(e.name, hipEntryName(hf, key, e.dispatch));
    const sig = kernelSignature(src, e.name);
    assert.deepEqual(sig.map((a) => a.name), expectArgs.map((a) => a.name), `${where}: ${e.name} argument order`);
    sig.forEach((a, i) => {
      const want = expectArgs[i];
      if (want.kind === 'ptr') {
        assert.match(a.type, /\*/, `${e.name}: ${a.name} must be a pointer`);
        const access = hf.family.bindings[i].access;
        assert.equal(/\bconst\b/.test(a.type), access === 'read', `${e.name}: ${a.name} (${access}) constness`);
      } else assert.equal(a.type, want.kind === 'u32' ? 'unsigned' : 'float', `${e.name}: ${a.name} type`);
    });
    const targs = Object.keys(hf.dispatch).map((n) => e.dispatch[n]);
    if (targs.length) assert.ok(src.includes(`<${targs.join(', ')}>(`), `${e.name}: template arguments <${targs.join(', ')}>`);
  }
  assert.match(src, /__launch_bounds__\(WG\)/);
  return r.entries.map((e) => e.name);
}

/** Text of a template file plus the partials it includes (recursively), from templates/. */
function templateText(file: string, partialExt: string): string {
  const dir = path.join(__dirname, '..', '..', 'templates');
  const seen = new Set<string>();
  const read = (f: string): string => {
    if (seen.has(f)) return '';
    seen.add(f);
    const t = fs.readFileSync(f, 'utf8');
    const parts = [...t.matchAll(/\{\{>\s*([A-Za-z0-9_]+)/g)].map((m) => read(path.join(dir, 'partials', `${m[1]}${partialExt}`)));
    return [t, ...parts].join('\n');
  };
  return read(path.join(dir, file));
}

describe('HIP rendering', () => {
  it('every tuned parameter the GLSL template uses is used by the HIP template, unless pinned', () => {
    for (const hf of hipFamilies) {
      const glsl = templateText(hf.family.template, '.glsl.hbs');
      const hip = templateText(hf.template, '.hip.hbs');
      for (const n of hipParamNames(hf)) {
        if ((hf.pinned && n in hf.pinned) || !new RegExp(`\\b${n}\\b`).test(glsl)) continue;
        assert.match(hip, new RegExp(`\\b${n}\\b`), `${hf.family.id}: ${n} is used by ${hf.family.template} but not by ${hf.template} (port it or pin it in generator/hip/families.ts)`);
      }
      assert.match(hip, /\bWAVES_PER_EU\b/, `${hf.template}: occupancy hint`);
    }
  });

  for (const hf of hipFamilies) {
    it(`${hf.family.id}: defaults and a sample of the pruned space render for wave32 and wave64`, () => {
      for (const inst of hipInstances(hf)) {
        for (const wave of WAVES) {
          const { points, defaultsRejected } = selectHipVariants(hf, inst, wave, RENDER_SAMPLE);
          assert.equal(defaultsRejected, null, `${hf.family.id}/${inst.key} defaults rejected at wave${wave}`);
          assert.deepEqual(points[0], hipDefaults(hf, wave));
          assert.ok(points.length >= Math.min(1 + RENDER_SAMPLE, 2), `${hf.family.id}/${inst.key}: sample`);
          for (const p of points) checkRendered(hf, inst.key, p, wave);
        }
      }
    });
  }

  it('argmax and attention.vec: MERGE 0 and 1 are in the HIP spaces, a render-time #define (the sources differ in that line only)', () => {
    for (const [id, key] of [['argmax', 'f32'], ['attention.vec', 'f16']] as const) {
      const hf = hipFamily(id);
      const inst = hipInstance(hf, key);
      assert.equal(hf.pinned?.MERGE, undefined, `${id}: MERGE pinned`);
      assert.deepEqual(hipParamValues(hf, 'MERGE'), [0, 1]);
      assert.equal(hipDefaults(hf).MERGE, hf.family.defaults.MERGE, `${id}: the family's default (argmax 1, attention.vec 0)`);
      for (const wave of WAVES) {
        const kept = hipPrunedSpace(hf, inst, wave).kept;
        assert.deepEqual([...new Set(kept.map((p) => p.MERGE))].sort(), [0, 1], `${id} wave${wave}: pruned space`);
        const [r0, r1] = [0, 1].map((MERGE) => renderHip({ hf, instance: inst, params: { ...hipDefaults(hf, wave), MERGE }, wave }));
        assert.deepEqual(r1.entries, r0.entries, `${id}: MERGE is not a dispatch point`);
        const diff = (a: string, b: string) => a.split('\n').filter((l, i) => l !== b.split('\n')[i]);
        assert.deepEqual(diff(r1.source, r0.source).map((l) => l.split(' //')[0]), ['#define MERGE 1']);
        assert.match(r1.source, /if \(!kp_arrive_last\(/, `${id}: the merging path`);
      }
    }
  });

  it('sampling is deterministic and draws distinct points of the pruned space', () => {
    const hf = hipFamily('matmul.tile');
    const inst = hipInstance(hf, 'q4_0');
    const a = selectHipVariants(hf, inst, 64, 5).points;
    const b = selectHipVariants(hf, inst, 64, 5).points;
    assert.deepEqual(a, b);
    assert.equal(new Set(a.map((p) => JSON.stringify(p))).size, a.length);
    for (const p of a) assert.equal(hipReject(hf, inst, p, 64), null);
    assert.notDeepEqual(selectHipVariants(hf, hipInstance(hf, 'f32'), 64, 5).points.slice(1), a.slice(1));
  });

  it('pruning derives from the family schema at the wave size; pinned and rejected variants do not render', () => {
    const hf = hipFamily('matmul.vec');
    const f32 = hipInstance(hf, 'f32');
    const base = { ...hipDefaults(hf), WG: 128, KSPLIT: 64, REDUCE: 0 };
    assert.equal(hipReject(hf, f32, base, 64), null);
    assert.match(hipReject(hf, f32, base, 32) ?? '', /KSPLIT <= subgroup size/);
    assert.equal(hipReject(hf, f32, { ...base, REDUCE: 1 }, 32), null);
    assert.throws(() => renderHip({ hf, instance: f32, params: base, wave: 32 }), /matmul\.vec\/f32 .*rejected: subgroup reduction/);
    if (hf.pinned) {
      const [n, v] = Object.entries(hf.pinned)[0];
      assert.throws(() => renderHip({ hf, instance: f32, params: { ...hipDefaults(hf), [n]: v + 1 }, wave: 64 }), new RegExp(`${n}=${v + 1} is not implemented by the HIP port`));
    }
    const at = hipFamily('attention.vec');
    const p = { ...hipDefaults(at), TPR: 32 };
    const r = renderHip({ hf: at, instance: hipInstance(at, 'f16'), params: p, wave: 64 });
    assert.ok(r.entries.every((e) => e.dispatch.D === 128), 'TPR 32 > D/4 for D 16 and 64: only D 128 entries');
    assert.equal(r.entries.length, 4);
    assert.throws(() => renderHip({ hf: at, instance: hipInstance(at, 'f16'), params: p, wave: 64, dispatch: [{ D: 64, PASS: 0, DYNAMIC: 0 }] }), /D":64.*rejected: TPR=32 > D\/4=16/);
    assert.equal(dispatchPoints(hipFamily('matmul.vec')).length, 8 * 5);
    assert.throws(() => hipInstance(hipFamily('rms_norm'), 'f16'), /rms_norm: no HIP port of instance "f16"/);
  });
});

/** A reduced dispatch set for the compile test (every code path of matmul.vec, a fraction of the entries). */
function testDispatch(hf: HipFamily): Params[] | undefined {
  if (hf.family.id !== 'matmul.vec') return undefined;
  return [
    { NCOLS: 1, NORM: 0, GLU: 0, RESIDUAL: 0 },
    { NCOLS: 1, NORM: 1, GLU: 1, RESIDUAL: 0 },
    { NCOLS: 1, NORM: 0, GLU: 0, RESIDUAL: 1 },
    { NCOLS: 3, NORM: 1, GLU: 0, RESIDUAL: 0 },
    { NCOLS: 8, NORM: 0, GLU: 0, RESIDUAL: 0 },
  ];
}

/** Families whose template's shared arrays are exactly the schema's sharedMemoryBytes (others allocate <=). */
const EXACT_LDS = new Set(['matmul.tile', 'matmul.coopmat', 'rms_norm', 'argmax']);

describe('HIP ahead-of-time compilation (hipcc)', async () => {
  const hipcc = await findHipcc();
  const archs = ['gfx90a', 'gfx1030'];
  const missing = archs.filter((a) => archUnbuildable(a) !== null);
  const skip = !hipcc ? 'hipcc not installed (apt-get install --no-install-recommends hipcc rocm-device-libs)' : missing.length ? `device libraries lack ${missing.join(', ')}` : false;
  if (skip) console.log(`# skipping HIP compile tests: ${skip}`);

  it('defaults + 1 sampled point per family and instance compile for gfx90a and gfx1030; metadata matches the schema', { skip }, async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'kpack-hip-test-'));
    try {
      const t0 = Date.now();
      const m = await generateHip({ outDir: out, archs, sample: 1, jobs: 2, dispatch: testDispatch, hipcc: hipcc! });
      console.log(`# ${m.variants.length} code objects in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
      const loaded = loadHipManifest(out);
      assert.deepEqual(loaded.variants.length, m.variants.length);
      assert.ok(fs.existsSync(path.join(out, HIP_MANIFEST)));
      const readelf = await findLlvmReadelf();
      for (const hf of hipFamilies) {
        for (const inst of hipInstances(hf)) {
          for (const arch of archs) {
            const vs = m.variants.filter((v) => v.family === hf.family.id && v.instance === inst.key && v.arch === arch);
            if (hf.matrix && matrixUnsupported(arch, hipArch(arch).waves[0])) {
              // matrix cores: pruned on an arch without a matrix instruction (gfx1030), the reason recorded
              assert.deepEqual(vs, [], `${hf.family.id}/${inst.key} ${arch}: built without a matrix instruction`);
              assert.ok(m.skipped.some((k) => k.family === hf.family.id && k.instance === inst.key && k.arch === arch && /no half-precision matrix instruction on gfx1030/.test(k.reason)), `${hf.family.id}/${inst.key} ${arch}: skip reason`);
              continue;
            }
            assert.ok(vs.some((v) => v.isDefault), `${hf.family.id}/${inst.key} ${arch}: defaults built`);
            assert.ok(vs.length >= 2 || hf.family.params.length === 0, `${hf.family.id}/${inst.key} ${arch}: a sampled point built`);
          }
        }
      }
      for (const v of m.variants) {
        const where = `${v.family}/${v.instance} ${JSON.stringify(v.params)} ${v.arch}`;
        const co = fs.readFileSync(path.join(out, v.codeObject.file));
        assert.equal(createHash('sha256').update(co).digest('hex'), v.codeObject.sha256, where);
        assert.equal(co.readUInt32BE(0), 0x7f454c46, `${where}: not an ELF`);
        assert.equal(co.readUInt16LE(18), 224, `${where}: ELF machine is not AMDGPU`);
        const src = fs.readFileSync(path.join(out, v.source.file), 'utf8');
        assert.equal(createHash('sha256').update(src).digest('hex'), v.source.sha256, where);
        assert.equal(v.wave, v.arch === 'gfx90a' ? 64 : 32);
        const hf = hipFamily(v.family);
        const full = { ...hf.family.defaults, ...v.params };
        const nptr = hipArgs(hf).filter((a) => a.kind === 'ptr').length;
        for (const e of v.entries) {
          assert.ok(co.includes(Buffer.from(`${e.name}\0`)), `${where}: symbol ${e.name} missing`);
          if (!readelf) continue;
          const r = e.resources!;
          assert.ok(r, `${where}: ${e.name} metadata`);
          assert.equal(r.wave, v.wave, `${where}: wavefront size`);
          assert.equal(r.maxThreads, v.workgroupSize[0], `${where}: launch bound`);
          assert.equal(r.kernargBytes, 8 * nptr + 4 * hf.push.length, `${where}: kernel-argument bytes`);
          // hipcc aligns each __shared__ array to 16 bytes (HIP_LDS_SLACK keeps room for it)
          const lds = hf.family.sharedMemoryBytes({ ...full, ...e.dispatch }, hipInstance(hf, v.instance));
          if (EXACT_LDS.has(v.family)) assert.ok(r.ldsBytes >= lds, `${where}: ${e.name} LDS ${r.ldsBytes} < sharedMemoryBytes ${lds}`);
          assert.ok(r.ldsBytes <= lds + HIP_LDS_SLACK, `${where}: ${e.name} LDS ${r.ldsBytes} > sharedMemoryBytes ${lds} + ${HIP_LDS_SLACK}`);
          assert.ok(r.ldsBytes <= 65536, `${where}: LDS over 64 KiB`);
          if (v.isDefault) assert.equal(r.scratchBytes + r.vgprSpills, 0, `${where}: ${e.name} default variant uses scratch memory (${r.scratchBytes} bytes, ${r.vgprSpills} VGPR spills)`);
        }
      }
      if (!readelf) console.log('# llvm-readelf not found: code-object metadata not checked');
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  it('MERGE 0 and 1 of argmax and attention.vec compile for gfx90a and gfx1030; MERGE 1 adds only the arrival flag to the first pass\'s LDS', { skip }, async () => {
    const readelf = await findLlvmReadelf();
    const cases: Array<{ id: string; key: string; over: Params; dispatch: Params[] | undefined }> = [
      { id: 'argmax', key: 'f32', over: {}, dispatch: undefined },
      // KVU 2, SG_REDUCE 0: the shared-memory dot reduction (Red) next to Cacc, whose storage the merge reuses
      { id: 'attention.vec', key: 'f16', over: { KVU: 2 }, dispatch: [{ D: 128, PASS: 0, DYNAMIC: 0 }, { D: 64, PASS: 0, DYNAMIC: 1 }, { D: 64, PASS: 1, DYNAMIC: 0 }] },
    ];
    const jobs: Array<Promise<void>> = [];
    for (const c of cases) {
      const hf = hipFamily(c.id);
      for (const arch of archs) {
        const wave = hipArch(arch).waves[0];
        const build = (MERGE: number) => {
          const r = renderHip({ hf, instance: hipInstance(hf, c.key), params: { ...hipDefaults(hf, wave), ...c.over, MERGE }, wave, dispatch: c.dispatch });
          return compileHip(r.source, arch, wave, { hipcc: hipcc!, label: `${c.id} MERGE ${MERGE}` }).then(async (co) => ({ r, co, meta: readelf ? await kernelMetadata(co.bytes) : null }));
        };
        jobs.push(
          Promise.all([build(0), build(1)]).then(([m0, m1]) => {
            const where = `${c.id} ${arch}`;
            assert.notEqual(m1.co.sha256, m0.co.sha256, `${where}: MERGE 1 compiled to the same code object`);
            for (const e of m1.r.entries) assert.ok(Buffer.from(m1.co.bytes).includes(Buffer.from(`${e.name}\0`)), `${where}: ${e.name} missing`);
            if (!m0.meta || !m1.meta) return;
            for (const e of m1.r.entries) {
              const l0: number = m0.meta.find((k) => k.name === e.name)!.ldsBytes;
              const l1: number = m1.meta.find((k) => k.name === e.name)!.ldsBytes;
              // PASS 0 with MERGE 1: + the u32 flag of kp_arrive_last (the merge reuses the pass's own arrays); PASS 1 unchanged
              if (e.dispatch.PASS === 0) assert.ok(l1 > l0 && l1 <= l0 + 16, `${where}: ${e.name} LDS ${l0} -> ${l1}`);
              else assert.equal(l1, l0, `${where}: ${e.name} LDS`);
            }
          }),
        );
      }
    }
    await Promise.all(jobs);
    if (!readelf) console.log('# llvm-readelf not found: LDS of the MERGE variants not checked');
  });

  it('a bad arch fails before compiling, naming it', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'kpack-hip-bad-'));
    try {
      await assert.rejects(generateHip({ outDir: out, archs: ['gfx90a', 'gfx9999'] }), /unknown HIP offload arch "gfx9999" \(known: .*gfx90a/);
      await assert.rejects(generateHip({ outDir: out, archs: ['sm_80'] }), /"sm_80"/);
      if (!buildableArchs().includes('gfx1100')) {
        await assert.rejects(generateHip({ outDir: out, archs: ['gfx1100'] }), /offload arch gfx1100 cannot be built here: .*oclc_isa_version_1100\.bc.*buildable known archs: .*gfx90a/);
        await assert.rejects(compileHip('extern "C" __global__ void k() {}', 'gfx1100', 32), /gfx1100/);
      }
      await assert.rejects(compileHip('extern "C" __global__ void k() {}', 'gfx90a', 32), /gfx90a .* cannot run wave32/);
      assert.deepEqual(fs.readdirSync(out), [], 'nothing written');
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  it('a source rendered for wave64 does not compile for a wave32 target; hipcc errors carry the arch', { skip }, async () => {
    const hf = hipFamily('add');
    const r64 = renderHip({ hf, instance: hipInstance(hf, 'f32'), params: hipDefaults(hf), wave: 64 });
    await assert.rejects(compileHip(r64.source, 'gfx1030', 32, { hipcc: hipcc! }), (e: unknown) => e instanceof HipCompileError && e.arch === 'gfx1030' && /wavefront size/.test(e.message));
    const r32 = renderHip({ hf, instance: hipInstance(hf, 'f32'), params: hipDefaults(hf), wave: 32 });
    await assert.rejects(compileHip(r32.source, 'gfx90a', 64, { hipcc: hipcc! }), (e: unknown) => e instanceof HipCompileError && e.arch === 'gfx90a' && /wavefront size/.test(e.message));
    const ok = await compileHip(r32.source, 'gfx1030', 32, { hipcc: hipcc! });
    assert.equal(Buffer.from(ok.bytes.subarray(1, 4)).toString(), 'ELF');
    await assert.rejects(compileHip('this is not C++', 'gfx90a', 64, { hipcc: hipcc!, label: 'broken' }), /broken: hipcc failed for gfx90a/);
  });
});
