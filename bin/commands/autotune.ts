import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CommandModule } from 'yargs';
import { type KvType, KV_TYPES, type WeightType } from '../../generator/ops';
import type { Context, DeviceInfo } from '../../native/vulkan/api';
import { familiesForOp, familyById } from '../../generator/families';
import { loadManifest } from '../../generator/manifest';
import { GGML_TYPES, GgufFile } from '../../runtime/gguf';
import { llamaConfigFromGguf, type LlamaConfig } from '../../runtime/model-config';
import { defaultPackDirs, findInstalledPack, userPackDir } from '../../runtime/pack-select';
import { PRESETS, preset } from '../../runtime/presets';
import { llamaQuantTensorType } from '../../runtime/synth';
import { type AutotuneResult, autotune, kernelSourceFromDir } from '../../tuner/autotune';
import { defaultEntries } from '../../tuner/default-pack';
import { compareDevices, fingerprintOf } from '../../tuner/pack/fingerprint';
import type { HipTuning, Pack, PackEntry } from '../../tuner/pack/format';
import { entryAbi } from '../../generator/schema';
import { autotuneHip } from '../../tuner/hip/autotune';
import { hip } from '../../native/hip';
import type { Workload } from '../../tuner/workloads';
import { readPack } from '../../tuner/pack/read';
import { createPack, currentToolchain, writePack } from '../../tuner/pack/write';
import { formatReport } from '../../tuner/report';
import { type LayerTypes, type ModelDims, workloadsFor } from '../../tuner/workloads';
import { builtKernelsDir, openDevice, parseDuration, parseIntList, requireFile } from '../common';

export interface AutotuneRequest {
  model?: string;
  preset?: string;
  /** Weight type when tuning for a preset, or q4_k_m (llama-quantize's mix: Q4_K with Q6_K attn_v / ffn_down in some layers). */
  weightType: WeightType | 'q4_k_m';
  kvType: KvType;
  batches: number[];
  depths: number[];
  budgetMs: number;
  out: string;
  /** Where the kernel manifest and SPIR-V live (default: the build's dist/kernels). */
  kernelsDir?: string;
  /** Family ids left out of the search (e.g. matmul.coopmat). */
  skipFamilies?: string[];
  /**
   * Packs whose entries are timed first (AutotuneOptions.seeds): these files (any device), else, unless
   * warmStart is false, the installed pack for this device (the one `kpack run` would use), if any.
   */
  warmStartPacks?: string[];
  warmStart?: boolean;
  /**
   * Keep the tuned entries of the warm-start packs fingerprinted to this device for buckets this run does not tune
   * (other K/V types, shapes, models), so a device's pack accumulates them (carriedEntries); default true.
   */
  carry?: boolean;
  /**
   * Which API to tune: 'vulkan' (default), 'hip' (the HIP ports only: the pack keeps the Vulkan defaults
   * and records the HIP results) or 'all' (both, each with the whole budget; the HIP records name the
   * faster API per bucket).
   */
  backend?: 'vulkan' | 'hip' | 'all';
  /** HIP / CUDA device index (kpack devices) for backend hip / all. */
  hipDevice?: number;
}

/**
 * Tune the workloads through the HIP back-end (tuner/hip/autotune.ts) on HIP device `index`; with the
 * Vulkan entries of the same run (backend all), each record also gets the Vulkan median at its point and
 * the faster API.
 * @throws Error naming --backend when there is no HIP / CUDA device or compiler.
 */
export function runHipAutotune(workloads: Workload[], budgetMs: number, index: number, vulkanEntries: PackEntry[] | null): HipTuning {
  const avail = hip.available();
  if (!avail.ok) throw new Error(`--backend hip|all: no HIP / CUDA device: ${avail.reason}`);
  const ctx = hip.createContext(index);
  try {
    const dev = ctx.device;
    const compiler = dev.api === 'cuda' ? avail.nvrtc : avail.hiprtc;
    if (!compiler.ok) throw new Error(`--backend hip|all: ${dev.name} has no runtime compiler: ${compiler.reason}`);
    console.error(`autotune: HIP ${dev.name} (${dev.api} ${dev.arch}, wave ${dev.warpSize}), ${compiler.reason}, budget ${(budgetMs / 1000).toFixed(0)} s`);
    const entries = autotuneHip({ ctx, workloads, budgetMs, log: (m) => console.error(`autotune: ${m}`) });
    if (vulkanEntries) {
      for (const h of entries) {
        const v = vulkanEntries.find((e) => e.bucket === h.bucket);
        const st = v?.stats.find((x) => Object.entries(x.point).every(([k, val]) => h.point[k] === val));
        if (!st) continue;
        h.vulkanMedianNs = st.medianNs;
        h.winner = h.medianNs < st.medianNs ? 'hip' : 'vulkan';
      }
    }
    return { device: { name: dev.name, api: dev.api, arch: dev.arch, warpSize: dev.warpSize, driverVersion: dev.driverVersion }, compiler: compiler.reason, entries };
  } finally {
    ctx.destroy();
  }
}

/** The HIP records as a table: bucket, HIP family, HIP and Vulkan medians, the faster API. */
export function formatHipTuning(t: HipTuning): string {
  const us = (ns: number | null | undefined) => (ns === null || ns === undefined ? '-' : `${(ns / 1e3).toFixed(2)} us`);
  const rows = [['bucket', 'HIP family', 'HIP', 'HIP defaults', 'Vulkan', 'faster']];
  for (const e of t.entries) rows.push([e.bucket, `${e.family}/${e.instance}`, us(e.medianNs), us(e.defaultMedianNs), us(e.vulkanMedianNs), e.winner ?? '-']);
  const w = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return [`== HIP (${t.device.name}, ${t.compiler}) ==`, ...rows.map((r) => r.map((x, c) => x.padEnd(w[c])).join('  ').trimEnd())].join('\n');
}

/**
 * The entries to time first (AutotuneRequest.warmStartPacks / warmStart) and the packs they came from.
 * Packs of another device are accepted: their variants are only candidates, validated and timed here.
 * @throws PackError for a named file that is missing or not a valid pack.
 */
export function warmStartEntries(ctx: Context, req: Pick<AutotuneRequest, 'warmStartPacks' | 'warmStart'>): { entries: PackEntry[]; from: string[]; packs: Pack[] } {
  const quiet = () => {};
  let files = req.warmStartPacks ?? [];
  if (!files.length && req.warmStart !== false) {
    const found = findInstalledPack(defaultPackDirs(), ctx.device, { warn: quiet });
    if (found) files = [found];
  }
  const packs = files.map((f) => readPack(f, { device: ctx.device, force: true, warn: quiet }));
  return { entries: packs.flatMap((p) => p.manifest.entries), from: files, packs };
}

/**
 * The tuned entries of `packs` to keep in a new pack of this run: entries of packs fingerprinted to `device`
 * (compareDevices same), tuned (match.shape set: not the default entries), of a family and launch-contract
 * version this build has (entryAbi), whose bucket is not in `tunedBuckets` (this run's workloads); the first pack
 * wins a bucket. Their SPIR-V is copied into `blobs`.
 * @returns the kept entries and, per pack name, how many came from it.
 */
export function carriedEntries(packs: readonly Pack[], device: DeviceInfo, tunedBuckets: ReadonlySet<string>, blobs: Map<string, Uint8Array>): { entries: PackEntry[]; from: Map<string, number> } {
  const here = fingerprintOf(device);
  const entries: PackEntry[] = [];
  const from = new Map<string, number>();
  const taken = new Set(tunedBuckets);
  for (const pack of packs) {
    if (!pack.manifest.device || !compareDevices(pack.manifest.device, here).same) continue;
    for (const e of pack.manifest.entries) {
      if (e.match.shape === null || taken.has(e.bucket)) continue;
      let abi: number;
      try {
        abi = entryAbi(familyById(e.family), e.instance);
      } catch {
        continue; // a family this build does not have
      }
      const blob = pack.blobs.get(e.spirv);
      if ((e.abi ?? 1) !== abi || !blob) continue;
      taken.add(e.bucket);
      entries.push(e);
      blobs.set(e.spirv, blob);
      from.set(pack.name, (from.get(pack.name) ?? 0) + 1);
    }
  }
  return { entries, from };
}

/** Weight types the tuner has kernels for (every matmul family instance). */
const TUNED_TYPES: readonly string[] = ['f32', 'f16', 'q8_0', 'q4_0', 'q4_k', 'q6_k'];
/** A layer's projections as GGUF names them, in LayerTypes order. */
const LAYER_TENSORS: ReadonlyArray<[keyof LayerTypes, string]> = [
  ['q', 'attn_q'], ['k', 'attn_k'], ['v', 'attn_v'], ['o', 'attn_output'], ['gate', 'ffn_gate'], ['up', 'ffn_up'], ['down', 'ffn_down'],
];

/** The distinct LayerTypes of `layers` layers, typeOf(name) giving each tensor's type ('blk.L.attn_q.weight'). */
function distinctLayerTypes(layers: number, typeOf: (name: string) => string): LayerTypes[] {
  const out = new Map<string, LayerTypes>();
  for (let l = 0; l < layers; l++) {
    const t = Object.fromEntries(LAYER_TENSORS.map(([k, n]) => [k, typeOf(`blk.${l}.${n}.weight`)])) as unknown as LayerTypes;
    out.set(JSON.stringify(t), t);
  }
  return [...out.values()];
}

/**
 * Model dimensions for tuning, from a GGUF's metadata or a preset. A GGUF's weight type is that of
 * blk.0.attn_q.weight; every projection of every layer must be f32, f16, q8_0, q4_0, q4_k or q6_k, and a
 * mixed model (Q4_K_M's Q6_K attn_v / ffn_down in some layers) is tuned for each distinct combination of
 * its layers' types (ModelDims.layerTypes), as the runtime will call them. A preset takes --weight-type for
 * every projection, or q4_k_m: the types `kpack synth --type q4_k_m` (llama-quantize's rules,
 * runtime/synth.ts llamaQuantTensorType) gives each layer. The output head is typed the same way.
 * @throws Error for a projection of another type or a missing model/preset.
 */
export function tuningDims(req: Pick<AutotuneRequest, 'model' | 'preset' | 'weightType' | 'kvType'>): ModelDims {
  let cfg: LlamaConfig;
  let weightType: WeightType;
  let outputType: WeightType | undefined;
  let layerTypes: LayerTypes[];
  let name: string;
  if (req.model) {
    const g = GgufFile.open(requireFile('--model', req.model, 'a GGUF model file'));
    try {
      cfg = llamaConfigFromGguf(g);
      const typeOf = (tensor: string): string => {
        const info = g.tensorInfo(tensor);
        if (!info) throw new Error(`--model ${req.model}: no tensor ${tensor}`);
        const t = GGML_TYPES[info.type].name.toLowerCase();
        if (!TUNED_TYPES.includes(t)) throw new Error(`--model ${req.model}: ${tensor} is ${t}; this kpack tunes ${TUNED_TYPES.join(', ')} weights`);
        return t;
      };
      weightType = typeOf('blk.0.attn_q.weight') as WeightType;
      layerTypes = distinctLayerTypes(cfg.layers, typeOf);
      const head = g.tensorInfo('output.weight') ?? g.tensorInfo('token_embd.weight');
      const ht = head && GGML_TYPES[head.type].name.toLowerCase();
      if (ht && ht !== weightType && TUNED_TYPES.includes(ht)) outputType = ht as WeightType;
      name = path.basename(req.model);
    } finally {
      g.close();
    }
  } else {
    if (!req.preset) throw new Error('autotune needs --model FILE.gguf or --preset NAME');
    cfg = preset(req.preset);
    name = req.preset;
    const mix = req.weightType;
    weightType = mix === 'q4_k_m' ? 'q4_k' : mix;
    if (mix === 'q8_0' || mix === 'q4_0' || mix === 'q4_k' || mix === 'q4_k_m') {
      // the types `kpack synth` / llama-quantize give this mix (matrices are [cols = ne0, rows = ne1])
      const ne: Record<keyof LayerTypes, [number, number]> = {
        q: [cfg.dim, cfg.heads * cfg.headDim], k: [cfg.dim, cfg.kvHeads * cfg.headDim], v: [cfg.dim, cfg.kvHeads * cfg.headDim],
        o: [cfg.heads * cfg.headDim, cfg.dim], gate: [cfg.dim, cfg.ffnDim], up: [cfg.dim, cfg.ffnDim], down: [cfg.ffnDim, cfg.dim],
      };
      const role = new Map(LAYER_TENSORS.map(([k, n]) => [n, k]));
      layerTypes = distinctLayerTypes(cfg.layers, (tensor) => {
        const k = role.get(tensor.split('.')[2])!;
        return GGML_TYPES[llamaQuantTensorType(mix, tensor, ne[k], cfg.layers, false)].name.toLowerCase();
      });
      const ht = GGML_TYPES[llamaQuantTensorType(mix, 'output.weight', [cfg.dim, cfg.vocab], cfg.layers, false)].name.toLowerCase();
      if (ht !== weightType) outputType = ht as WeightType;
    } else {
      layerTypes = distinctLayerTypes(cfg.layers, () => weightType);
    }
  }
  const { dim, layers, heads, kvHeads, headDim, ffnDim, vocab } = cfg;
  const mixed = layerTypes.length > 1 || Object.values(layerTypes[0]).some((t) => t !== weightType);
  return {
    name, dim, layers, heads, kvHeads, headDim, ffnDim, vocab, weightType, ...(outputType ? { outputType } : {}),
    ...(mixed ? { layerTypes } : {}), kvType: req.kvType,
    rope: { base: cfg.ropeBase, mode: cfg.ropeMode },
  };
}

/**
 * Autotune on `ctx` and write a self-contained pack (tuned entries + the default entries) to
 * req.out atomically, plus a copy among the installed packs. Resumes from `<out>.journal`.
 */
export async function runAutotune(ctx: Context, req: AutotuneRequest): Promise<{ result: AutotuneResult | null; hip?: HipTuning; installed: string }> {
  const dims = tuningDims(req);
  const kernelsDir = req.kernelsDir ?? builtKernelsDir;
  const manifest = loadManifest(kernelsDir);
  const workloads = workloadsFor(dims, { batches: req.batches, depths: req.depths });
  const outDir = path.dirname(path.resolve(req.out));
  if (!fs.existsSync(outDir)) throw new Error(`--out ${req.out}: directory ${outDir} does not exist`);
  try {
    fs.accessSync(outDir, fs.constants.W_OK);
  } catch {
    throw new Error(`--out ${req.out}: directory ${outDir} is not writable`);
  }
  let lastIndex = -1;
  console.error(`autotune: ${ctx.device.name}, ${dims.name} (${dims.weightType} weights, ${dims.kvType} K/V), ${workloads.length} workloads, budget ${(req.budgetMs / 1000).toFixed(0)} s`);
  const backend = req.backend ?? 'vulkan';
  // fail before minutes of Vulkan tuning when the HIP half cannot run
  const hipStatus = backend === 'vulkan' ? null : hip.available();
  if (hipStatus && !hipStatus.ok) throw new Error(`--backend ${backend}: no HIP / CUDA device: ${hipStatus.reason}`);
  const warm = backend === 'hip' ? { entries: [], from: [], packs: [] } : warmStartEntries(ctx, req);
  if (warm.from.length) console.error(`autotune: timing the ${warm.entries.length} entries of ${warm.from.join(', ')} first where they fit (--no-warm-start: do not)`);
  const result: AutotuneResult | null = backend === 'hip' ? null : await autotune({
    ctx,
    workloads,
    budgetMs: req.budgetMs,
    journalPath: `${path.resolve(req.out)}.journal`,
    kernels: kernelSourceFromDir(kernelsDir),
    seeds: warm.entries,
    families: (op) => familiesForOp(op).filter((f) => !req.skipFamilies?.includes(f.id)),
    progressBar: process.stderr.isTTY,
    // without a terminal (logs, CI): one line as each workload starts
    onProgress: process.stderr.isTTY ? undefined : (p) => {
      if (p.workloadIndex === lastIndex) return;
      lastIndex = p.workloadIndex;
      console.error(`autotune: workload ${p.workloadIndex + 1}/${p.workloads} ${p.label} (${(p.elapsedMs / 1000).toFixed(0)} s, ${p.evaluations} evaluations)`);
    },
    log: (m) => process.env.KPACK_VERBOSE && console.error(m),
  });
  const hipTuning = backend === 'vulkan' ? undefined : runHipAutotune(workloads, req.budgetMs, req.hipDevice ?? 0, result?.entries ?? null);
  const blobs = new Map(result?.blobs ?? []);
  const carried = req.carry === false || backend === 'hip' ? { entries: [], from: new Map<string, number>() } : carriedEntries(warm.packs, ctx.device, new Set(workloads.map((w) => w.bucket)), blobs);
  for (const [name, n] of carried.from) console.error(`autotune: kept ${n} tuned entries of ${name} for buckets this run did not tune (--no-carry: do not)`);
  const entries = [...(result?.entries ?? []), ...carried.entries, ...defaultEntries(manifest, kernelsDir, blobs)];
  const pack = createPack({
    device: fingerprintOf(ctx.device),
    toolchain: currentToolchain(manifest.toolchain.glslang),
    tuning: {
      model: dims.name,
      budgetMs: req.budgetMs,
      batches: req.batches,
      depths: req.depths,
      ...(result ? { durationMs: result.durationMs, copyBandwidthGBs: result.roofline.bandwidthBytesPerS / 1e9 } : {}),
    },
    entries,
    ...(hipTuning ? { hip: hipTuning } : {}),
    blobs,
    name: path.basename(req.out),
  });
  writePack(req.out, pack);
  const installed = path.join(userPackDir(), path.basename(req.out));
  if (path.resolve(installed) !== path.resolve(req.out)) {
    fs.mkdirSync(userPackDir(), { recursive: true });
    writePack(installed, pack);
  }
  fs.rmSync(`${path.resolve(req.out)}.journal`, { force: true });
  if (result) {
    console.log(formatReport(result.rows));
    for (const note of result.fusionNotes) console.log(`fusion: ${note}`);
    console.log(
      `autotune: ${result.entries.length} tuned buckets, ${result.evaluations} evaluations in ${(result.durationMs / 1000).toFixed(1)} s` +
        (result.resumedRecords ? ` (${result.resumedRecords} measurements resumed from the journal)` : '') +
        `; pack ${req.out}`,
    );
  }
  if (hipTuning) console.log(`${formatHipTuning(hipTuning)}\nautotune: ${hipTuning.entries.length} buckets tuned through HIP; pack ${req.out}`);
  return { result, hip: hipTuning, installed };
}

/** A file name for a device's pack: vendor-device-driver slug plus the model name. */
export function packFileName(ctx: Context, model: string): string {
  const d = ctx.device;
  const slug = `${d.name}-${model}`.toLowerCase().replace(/[^a-z0-9.]+/g, '-').replace(/^-|-$/g, '');
  return `${slug}.kpack`;
}

/** `kpack autotune`. */
export const autotuneCommand: CommandModule<object, any> = {
  command: 'autotune',
  describe: 'Generate variants, prune them by the device, time and validate them, write a kernel pack',
  builder: (y) =>
    y.options({
      device: { type: 'number', default: 0, describe: 'Vulkan device index (kpack devices)' },
      model: { type: 'string', describe: 'tune for this GGUF model', conflicts: 'preset' },
      preset: { type: 'string', choices: Object.keys(PRESETS), describe: 'tune for a model preset' },
      'weight-type': { choices: ['f32', 'f16', 'q8_0', 'q4_0', 'q4_k', 'q6_k', 'q4_k_m'], default: 'f16', describe: 'weight type of every matmul (with --preset), or q4_k_m: the per-layer Q4_K / Q6_K mix of `kpack synth --type q4_k_m`' },
      'kv-type': { choices: KV_TYPES, default: 'f16' as KvType, describe: 'K/V cache type (q8_0 / q4_0: ggml blocks, head dim a multiple of 32; Vulkan only)' },
      batch: { type: 'string', default: '1,512', describe: 'batch sizes (tokens per forward call)' },
      depth: { type: 'string', default: '0,4096', describe: 'KV depths' },
      budget: { type: 'string', default: '10m', describe: 'time budget (e.g. 90s, 10m): on Vulkan it bounds the variant searches, shared among the workloads (timing the defaults and seeds, validation and the bucket decisions come on top); on HIP the whole run' },
      out: { type: 'string', describe: 'pack file (default: an installed pack under the kpack cache)' },
      'skip-family': { type: 'string', describe: 'family ids to leave out, comma-separated (e.g. matmul.coopmat)' },
      'warm-start': { type: 'boolean', default: true, describe: "time the variants of the installed pack for this device first (a shipped or earlier pack); --no-warm-start: search from the defaults only" },
      backend: { choices: ['vulkan', 'hip', 'all'], default: 'vulkan', describe: 'API to tune: vulkan, hip (the HIP ports through NVRTC / hiprtc; recorded in the pack with their sources; `run|bench --backend hip` runs them), or all (both; the pack records the faster API per bucket)' },
      'hip-device': { type: 'number', default: 0, describe: 'HIP / CUDA device index for --backend hip|all (kpack devices)' },
      'warm-start-pack': { type: 'string', array: true, describe: 'pack file(s) whose variants are timed first instead (any device: they are validated and timed here like every candidate)' },
      carry: { type: 'boolean', default: true, describe: "keep the warm-start packs' tuned entries for this device in buckets this run does not tune (other K/V types, shapes, models); --no-carry: only this run's" },
    }),
  handler: async (args) => {
    if (!args.model && !args.preset) throw new Error('autotune needs --model FILE.gguf or --preset NAME');
    const ctx = openDevice(args.device);
    try {
      const name = args.model ? path.basename(args.model, '.gguf') : args.preset;
      const out = args.out ?? path.join(userPackDir(), packFileName(ctx, name));
      if (!args.out) fs.mkdirSync(userPackDir(), { recursive: true });
      await runAutotune(ctx, {
        model: args.model,
        preset: args.preset,
        weightType: args['weight-type'],
        kvType: args['kv-type'],
        batches: parseIntList('batch', args.batch).filter((b) => b > 0),
        depths: parseIntList('depth', args.depth),
        budgetMs: parseDuration('budget', args.budget),
        out,
        skipFamilies: args['skip-family'] ? String(args['skip-family']).split(',').map((id) => familyById(id).id) : [],
        warmStart: args['warm-start'],
        backend: args.backend,
        hipDevice: args['hip-device'],
        warmStartPacks: args['warm-start-pack']?.map((f: string) => requireFile('--warm-start-pack', f, 'a kpack file')),
        carry: args.carry,
      });
      ctx.savePipelineCache();
    } finally {
      ctx.destroy();
    }
  },
};

