/**
 * HIP back-end schema: what the HIP port of a kernel family adds to the Vulkan family of
 * generator/families (which stays the single source of the tunable parameters, defaults, bindings,
 * shared-memory formula, reject() rules and dispatch plans).
 *
 * HIP has no specialization constants, so:
 * - the tunables of a variant become `#define`s of its source (one code object per variant and arch);
 * - the parameters a family's plan() sets per call (specOverrides: matmul.vec's NCOLS/NORM/GLU/RESIDUAL,
 *   the attention head dim D, PASS, DYNAMIC) become C++ template arguments of the kernel body, and each
 *   built value combination ("dispatch point") is one `extern "C"` entry of the code object, named by
 *   hipEntryName() so a launcher finds the entry of a plan step from step.specOverrides;
 * - HIP-only parameters: WAVE (wavefront size, from the target arch; never a tunable the template may
 *   assume) and WAVES_PER_EU (an occupancy hint, amdgpu_waves_per_eu; 0 = none).
 *
 * Kernel arguments: one pointer per family binding (in binding order), then the push-constant fields as
 * scalars (u32 = `unsigned`, f32 = `float`), in push order; their sizes sum to pushConstantBytes.
 */
import { families } from '../families';
import { matrixUnsupported } from './arch';
import { type DeviceLimits, type KernelFamily, type ParamSpec, type Params, type TemplateInstance } from '../schema';

/** A push-constant field passed as a scalar kernel argument. */
export interface HipScalar {
  name: string;
  type: 'u32' | 'f32';
}

/** The HIP port of one kernel family. */
export interface HipFamily {
  /** The Vulkan family it ports (params, defaults, bindings, reject, plan). */
  family: KernelFamily<any>;
  /** Template file under templates/, e.g. "matmul_vec.hip.hbs". */
  template: string;
  /** Keys of the family's instances that have a HIP port. */
  instances: readonly string[];
  /** Push-constant fields in order (4 bytes each; 4 * length == family.pushConstantBytes). */
  push: readonly HipScalar[];
  /** Parameters plan() sets per call -> the values built as entries (template arguments), in this order. */
  dispatch: Readonly<Record<string, readonly number[]>>;
  /** Restricts the Cartesian product of `dispatch` (e.g. matmul.vec's epilogue combinations); default all. */
  dispatchFilter?: (d: Params) => boolean;
  /**
   * Vulkan parameters the HIP template does not implement, held at the value whose behaviour it has
   * (e.g. matmul.vec BSTAGE 0: B is not staged through shared memory). Every other tuned parameter must
   * be used by the template (test/hip-generate.test.ts checks the rendered sources).
   */
  pinned?: Readonly<Record<string, number>>;
  /**
   * Needs a 16x16x16 f16 x f16 -> f32 matrix instruction (MFMA, WMMA, mma.sync; ./arch.ts
   * hipMatrixInstruction): its limits report that shape as the device's only cooperative-matrix shape, and
   * a target without one prunes every variant (hipReject with a target).
   */
  matrix?: boolean;
  /**
   * Relative L2 error bound of the HIP tuner's validation when looser than the matmul / attention bounds
   * (tuner/hip/autotune.ts): matmul.coopmat rounds A and B to f16 (tuner/validate.ts toleranceFor, 2e-3).
   */
  tolerance?: number;
  /** Tuner candidate only (as the Vulkan coopmat families): no HIP defaults in the runtime bundle. */
  tunedOnly?: boolean;
  /**
   * Defaults per wavefront size over the family's, where those do not fit a wave (matmul.coopmat: WG must
   * be WM*WN*WAVE, so wave64 takes a 2 x 2 wave grid for the family's WG 256).
   */
  waveDefaults?: Readonly<Record<number, Params>>;
}

/** HIP-only tunables, appended to every family's parameters (spec ids unused: they are #defines). */
export const HIP_PARAMS: readonly ParamSpec[] = [
  { name: 'WAVES_PER_EU', values: [0, 2, 4], specId: -1, doc: 'occupancy hint amdgpu_waves_per_eu(N) (min waves per execution unit); 0 = compiler default' },
];

/** Largest workgroup a HIP launch may have (threads). */
export const HIP_MAX_WORKGROUP = 1024;

const u32 = (...names: string[]): HipScalar[] => names.map((name) => ({ name, type: 'u32' as const }));
const ATTN_PUSH: HipScalar[] = [...u32('heads', 'kvHeads', 'queries', 'kvLength', 'kvStride', 'queryPos0', 'causal', 'splits'), { name: 'scale', type: 'f32' }];
/** Head dims built for the attention families (Llama 3.2 1B: 64, 3.1 8B: 128, the test-tiny preset: 16). */
export const HIP_HEAD_DIMS = [16, 64, 128] as const;

const byId = (id: string): KernelFamily<any> => {
  const f = families.find((x) => x.id === id);
  if (!f) throw new Error(`hip schema: no Vulkan family ${id}`);
  return f;
};

/** Every family with a HIP port, in priority order. */
export const hipFamilies: readonly HipFamily[] = [
  {
    family: byId('matmul.vec'),
    template: 'matmul_vec.hip.hbs',
    instances: ['f32', 'f16', 'q8_0', 'q4_0', 'q4_k', 'q6_k'],
    push: [...u32('M', 'N', 'K'), { name: 'eps', type: 'f32' }],
    dispatch: { NCOLS: [1, 2, 3, 4, 5, 6, 7, 8], NORM: [0, 1], GLU: [0, 1], RESIDUAL: [0, 1] },
    // The Llama graph's fusions (runtime/model/llama.ts): plain, norm (QKV, output head), norm+glu
    // (gate|up), residual (wo, down); glu alone for an unfused norm.
    dispatchFilter: (d) => !(d.RESIDUAL && (d.NORM || d.GLU)),
    pinned: { BSTAGE: 0 },
  },
  { family: byId('matmul.tile'), template: 'matmul_tile.hip.hbs', instances: ['f32', 'f16', 'q8_0', 'q4_0', 'q4_k', 'q6_k'], push: u32('M', 'N', 'K'), dispatch: {} },
  // MERGE (tuned, a #define): 0 = the reduce launch (PASS 1), 1 = the tile's last split merges (plan().counterWords zeroed counters).
  // PREFETCH (the GLSL template's software-pipelined K/V loads) is not ported: pinned to 0.
  { family: byId('attention.vec'), template: 'attention_vec.hip.hbs', instances: ['f16', 'f32', 'q8_0', 'q4_0'], push: ATTN_PUSH, dispatch: { D: HIP_HEAD_DIMS, PASS: [0, 1], DYNAMIC: [0, 1] }, pinned: { PREFETCH: 0 } },
  { family: byId('attention.tile'), template: 'attention_tile.hip.hbs', instances: ['f16', 'f32', 'q8_0', 'q4_0'], push: ATTN_PUSH, dispatch: { D: HIP_HEAD_DIMS } },
  { family: byId('rms_norm'), template: 'rms_norm.hip.hbs', instances: ['f32'], push: [...u32('rows', 'cols'), { name: 'eps', type: 'f32' }], dispatch: {} },
  {
    family: byId('rope_kv'),
    template: 'rope_kv.hip.hbs',
    instances: ['f32', 'f16', 'q8_0', 'q4_0'],
    push: [...u32('tokens', 'heads', 'kvHeads', 'D', 'pos0', 'kvStride', 'mode'), { name: 'base', type: 'f32' }, ...u32('qStride', 'kStride', 'vStride', 'qOffset', 'kOffset', 'vOffset')],
    dispatch: { DYNAMIC: [0, 1] },
  },
  { family: byId('swiglu'), template: 'swiglu.hip.hbs', instances: ['f32'], push: u32('rows', 'width', 'gStride', 'uStride', 'gOffset', 'uOffset'), dispatch: {} },
  { family: byId('add'), template: 'add.hip.hbs', instances: ['f32'], push: u32('n'), dispatch: {} },
  { family: byId('embed'), template: 'embed.hip.hbs', instances: ['f32', 'f16', 'q8_0', 'q4_0', 'q4_k', 'q6_k'], push: u32('tokens', 'dim'), dispatch: {} },
  // MERGE as attention.vec's: 1 (the family default) = the last first-pass block reduces, one counter.
  { family: byId('argmax'), template: 'argmax.hip.hbs', instances: ['f32'], push: u32('n', 'groups', 'chunk'), dispatch: { PASS: [0, 1] } },
  { family: byId('copy'), template: 'copy.hip.hbs', instances: ['u32'], push: u32('n'), dispatch: {} },
  // Matrix cores: MFMA (CDNA), WMMA (RDNA3), mma.sync (NVIDIA sm_80+); 16x16x16 fragments only. Split-K and the
  // B -> f16 pre-pass are not ported (one launch per call); f32 weights are left out (the family rounds them to
  // f16 and cannot meet the f32 bound, so the Vulkan tuner drops that instance too).
  {
    family: byId('matmul.coopmat'),
    template: 'matmul_coopmat.hip.hbs',
    instances: ['f16', 'q8_0', 'q4_0', 'q4_k', 'q6_k'],
    push: u32('M', 'N', 'K', 'splits', 'kChunk'),
    dispatch: {},
    pinned: { CM: 16, CN: 16, CK: 16, SPLIT_WGS: 0, PRE_B: 0, PASS: 0 },
    matrix: true,
    tolerance: 2e-3,
    tunedOnly: true,
    waveDefaults: { 64: { WG: 256, WM: 2, WN: 2 } },
  },
];

/**
 * The HIP port of family `id`.
 * @throws Error naming the id and listing the ported families.
 */
export function hipFamily(id: string): HipFamily {
  const f = hipFamilies.find((x) => x.family.id === id);
  if (!f) throw new Error(`no HIP port of kernel family "${id}" (ported: ${hipFamilies.map((x) => x.family.id).join(', ')})`);
  return f;
}

/**
 * The family's template instance `key` that has a HIP port.
 * @throws Error naming family and key when the family lacks it or it is not ported.
 */
export function hipInstance(hf: HipFamily, key: string): TemplateInstance {
  const inst = hf.family.instances.find((i) => i.key === key);
  if (!inst || !hf.instances.includes(key)) throw new Error(`${hf.family.id}: no HIP port of instance "${key}" (ported: ${hf.instances.join(', ')})`);
  return inst;
}

/** The instances of a HIP family that exist in its Vulkan family, in the Vulkan family's order. */
export const hipInstances = (hf: HipFamily): TemplateInstance[] => hf.family.instances.filter((i) => hf.instances.includes(i.key));

/** Names of the tuned parameters of a HIP variant: the family's non-dispatch params, then HIP_PARAMS. */
export function hipParamNames(hf: HipFamily): string[] {
  return [...hf.family.params.map((p) => p.name).filter((n) => !(n in hf.dispatch)), ...HIP_PARAMS.map((p) => p.name)];
}

/** The values a tuned parameter of a HIP variant may take: its pinned value, the family's values, or HIP_PARAMS'. */
export function hipParamValues(hf: HipFamily, name: string): readonly number[] {
  if (hf.pinned && name in hf.pinned) return [hf.pinned[name]];
  const spec = hf.family.params.find((p) => p.name === name) ?? HIP_PARAMS.find((p) => p.name === name);
  if (!spec || name in hf.dispatch) throw new Error(`${hf.family.id}: ${name} is not a tuned HIP parameter (tuned: ${hipParamNames(hf).join(', ')})`);
  return spec.values;
}

/**
 * The family's defaults plus the HIP-only defaults (WAVES_PER_EU 0) and pinned values, dispatch params left
 * out; with `wave`, HipFamily.waveDefaults of that wavefront size over them.
 */
export function hipDefaults(hf: HipFamily, wave?: number): Params {
  const out: Params = {};
  const byWave = wave !== undefined ? hf.waveDefaults?.[wave] : undefined;
  for (const n of hipParamNames(hf)) {
    out[n] = hf.pinned && n in hf.pinned ? hf.pinned[n] : byWave && n in byWave ? byWave[n] : n in hf.family.defaults ? hf.family.defaults[n] : hipParamValues(hf, n)[0];
  }
  return out;
}

/** LDS bytes kept free of the schema's sharedMemoryBytes for hipcc's 16-byte alignment of each __shared__ array. */
export const HIP_LDS_SLACK = 64;

/**
 * DeviceLimits of a HIP target for the Vulkan families' reject() rules: wave = subgroup size, LDS less
 * HIP_LDS_SLACK, 1024 threads per workgroup; with `matrix`, one subgroup-scope cooperative-matrix shape,
 * 16x16x16 f16 x f16 -> f32 (what hip_mma.hip.hbs implements on every target that has an instruction).
 */
export function hipLimits(wave: number, ldsBytes = 65536, matrix = false): DeviceLimits {
  return {
    subgroupSize: wave,
    maxSharedMemoryBytes: ldsBytes - HIP_LDS_SLACK,
    maxWorkgroupInvocations: HIP_MAX_WORKGROUP,
    maxWorkgroupSizeX: HIP_MAX_WORKGROUP,
    coopmatShapes: matrix ? [{ M: 16, N: 16, K: 16, aType: 'f16', bType: 'f16', cType: 'f32', resultType: 'f32', scope: 'subgroup' }] : [],
    shaderFloat16: true,
    coopmat: matrix,
    coopmat2: false,
    integerDotProduct: false,
    atomicFloatAdd: false,
    multiprocessorCount: 0,
  };
}

/** hipLimits for family hf (the matrix shape when hf.matrix). */
export const hipFamilyLimits = (hf: HipFamily, wave: number, ldsBytes = 65536): DeviceLimits => hipLimits(wave, ldsBytes, !!hf.matrix);

/** Every dispatch point of a family (Cartesian product of `dispatch`, filtered), in declaration order. */
export function dispatchPoints(hf: HipFamily): Params[] {
  let pts: Params[] = [{}];
  for (const [name, values] of Object.entries(hf.dispatch)) pts = pts.flatMap((p) => values.map((v) => ({ ...p, [name]: v })));
  return hf.dispatchFilter ? pts.filter(hf.dispatchFilter) : pts;
}

/**
 * Why dispatch point `d` of variant `p` cannot run (the family's reject() with the point's values,
 * e.g. attention.vec TPR > D/4), or null.
 */
export function dispatchReject(hf: HipFamily, inst: TemplateInstance, p: Params, d: Params, limits: DeviceLimits): string | null {
  return hf.family.reject({ ...hf.family.defaults, ...p, ...d }, inst, limits);
}

/**
 * Why HIP variant `p` (tuned params, no dispatch params) cannot be built for wavefront size `wave`, or
 * null: the family's reject() under hipLimits(wave) (WG <= 1024, KSPLIT/TPR <= WAVE for shuffle
 * reductions, LDS <= 64 KiB, ...) must accept at least one dispatch point, and WAVES_PER_EU must leave
 * room for a workgroup (WG / wave waves over 4 SIMDs, at most 10 waves per SIMD on CDNA2 / 16 on RDNA).
 * With `target` (an AMD arch "gfx90a" or NVIDIA "sm_90"), a matrix family (hf.matrix) is rejected on a
 * target without a matrix instruction for this wave (./arch.ts matrixUnsupported); without one the source
 * is assumed to be compiled for a target that has it (it fails with #error elsewhere).
 * @throws Error when `p` misses a parameter (names the family and the parameter).
 */
export function hipReject(hf: HipFamily, inst: TemplateInstance, p: Params, wave: number, ldsBytes = 65536, target?: string): string | null {
  for (const n of hipParamNames(hf)) if (p[n] === undefined) throw new Error(`${hf.family.id}: HIP variant lacks parameter ${n}`);
  if (hf.matrix && target !== undefined) {
    const why = matrixUnsupported(target, wave);
    if (why) return why;
  }
  const limits = hipFamilyLimits(hf, wave, ldsBytes);
  for (const [n, v] of Object.entries(hf.pinned ?? {})) if (p[n] !== v) return `${n}=${p[n]} is not implemented by the HIP port (only ${v})`;
  const wg = hf.family.workgroupSize({ ...hf.family.defaults, ...p })[0];
  if (wg > HIP_MAX_WORKGROUP) return `WG=${wg} > ${HIP_MAX_WORKGROUP}`;
  if (p.WAVES_PER_EU > 0 && Math.ceil(wg / wave / 4) > Math.floor(40 / p.WAVES_PER_EU)) return `WAVES_PER_EU=${p.WAVES_PER_EU} leaves no room for ${wg / wave} waves`;
  let first: string | null = null;
  for (const d of dispatchPoints(hf)) {
    const why = dispatchReject(hf, inst, p, d, limits);
    if (why === null) return null;
    first ??= why;
  }
  return first ?? 'no dispatch point';
}

/** Every point of a HIP family's tuned space (Cartesian product of hipParamNames' values), unpruned. */
export function* hipParameterSpace(hf: HipFamily): Generator<Params> {
  const names = hipParamNames(hf);
  const values = names.map((n) => hipParamValues(hf, n));
  const idx = new Array(names.length).fill(0);
  for (;;) {
    const p: Params = {};
    names.forEach((n, i) => (p[n] = values[i][idx[i]]));
    yield p;
    let d = names.length - 1;
    while (d >= 0 && ++idx[d] === values[d].length) idx[d--] = 0;
    if (d < 0) return;
  }
}

/**
 * The pruned HIP space of one instance at one wavefront size (on `target` when given: hipReject): kept points
 * (space order) and rejected counts by reason.
 */
export function hipPrunedSpace(hf: HipFamily, inst: TemplateInstance, wave: number, ldsBytes = 65536, target?: string): { kept: Params[]; rejected: Record<string, number> } {
  const kept: Params[] = [];
  const rejected: Record<string, number> = {};
  for (const p of hipParameterSpace(hf)) {
    const why = hipReject(hf, inst, p, wave, ldsBytes, target);
    if (why === null) kept.push(p);
    else {
      const k = why.split(':')[0].replace(/\d+/g, 'N');
      rejected[k] = (rejected[k] ?? 0) + 1;
    }
  }
  return { kept, rejected };
}

/**
 * Entry-point name of a dispatch point: "kpack_<family>_<instance>" (non-identifier characters as '_')
 * plus "_<NAME><value>" per dispatch parameter in declaration order, e.g.
 * "kpack_matmul_vec_q4_0_NCOLS1_NORM1_GLU0_RESIDUAL0". A launcher passes a plan step's specOverrides.
 * @throws Error when `d` lacks one of the family's dispatch parameters.
 */
export function hipEntryName(hf: HipFamily, instanceKey: string, d: Params = {}): string {
  const base = `kpack_${hf.family.id}_${instanceKey}`.replace(/[^A-Za-z0-9_]/g, '_');
  return (
    base +
    Object.keys(hf.dispatch)
      .map((n) => {
        if (d[n] === undefined) throw new Error(`${hf.family.id}: entry needs dispatch parameter ${n}`);
        return `_${n}${d[n]}`;
      })
      .join('')
  );
}

/** Kernel argument list of a HIP family: binding pointers in order, then the push fields. */
export function hipArgs(hf: HipFamily): Array<{ name: string; kind: 'ptr' | 'u32' | 'f32' }> {
  return [...hf.family.bindings.map((b) => ({ name: b.name, kind: 'ptr' as const })), ...hf.push.map((s) => ({ name: s.name, kind: s.type }))];
}

{
  for (const hf of hipFamilies) {
    if (4 * hf.push.length !== hf.family.pushConstantBytes) throw new Error(`hip schema ${hf.family.id}: ${hf.push.length} push fields != ${hf.family.pushConstantBytes} bytes`);
    for (const n of Object.keys(hf.dispatch)) if (!hf.family.params.some((p) => p.name === n)) throw new Error(`hip schema ${hf.family.id}: dispatch parameter ${n} is not a family parameter`);
    for (const n of Object.keys(hf.pinned ?? {})) if (!hf.family.params.some((p) => p.name === n)) throw new Error(`hip schema ${hf.family.id}: pinned parameter ${n} is not a family parameter`);
    for (const k of hf.instances) if (!hf.family.instances.some((i) => i.key === k)) throw new Error(`hip schema ${hf.family.id}: unknown instance ${k}`);
  }
}
