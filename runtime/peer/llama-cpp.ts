/**
 * llama.cpp as a bench peer, through npm's node-llama-cpp and its prebuilt binaries (Vulkan, CUDA, CPU),
 * loaded in kpack's own process so both engines bench the same GGUF in one run.
 *
 * What is measured, and how it differs from llama-bench (`-ngl 99 -fa 1 -b 2048 -ub 512`):
 * - all layers on the GPU (gpuLayers 'max'), flash attention on, f16 K/V, batch 512 (node-llama-cpp sets
 *   n_batch = n_ubatch = 512; llama-bench's n_batch is 2048 but its ubatch, what one decode runs, is 512);
 *   one context sized to the deepest case (llama-bench makes a context of depth + n per test; with flash
 *   attention llama.cpp only attends over the used, 256-padded part of the cache, so the size does not
 *   change the work).
 * - ppN at depth d: the sequence holds exactly d random tokens (filled untimed, once per depth, then the
 *   tail erased after each run; llama-bench clears and refills per repetition: same cache contents), then N
 *   random tokens are evaluated in batches of 512 with the output head and a greedy pick on the last token
 *   only (llama-bench computes the last token's logits too).
 * - tgN at depth d: N single-token decode steps, each with a greedy pick (argmax) fed back as the next
 *   token; llama-bench feeds random tokens and samples nothing. kpack's bench also picks greedily.
 * - time is wall clock around node-llama-cpp's async calls, so its JavaScript scheduling (a batch is
 *   dispatched on the next event-loop cycle) is inside the timed part; llama-bench times a C++ loop.
 *   For tg this is tens of microseconds per token.
 * - one warm-up run per case first (pipelines compile on first use), then r timed runs: mean and sample
 *   standard deviation of the per-run t/s, as llama-bench reports.
 * - token ids are drawn from a seeded PRNG over the whole vocabulary, as llama-bench does (std::rand()).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { mean, sampleStandardDeviation } from 'simple-statistics';
import { type KvType, isKvQuantType } from '../../generator/ops';
import { type BenchCase, type BenchResult, testName } from '../bench';
import { seededRandom } from '../sampling';

/** Which node-llama-cpp build to load: its Vulkan, CUDA or CPU binaries. */
export type PeerGpu = 'vulkan' | 'cuda' | 'cpu';

/** Engine labels as the compare table and JSONL name them. */
export const PEER_ENGINE: Readonly<Record<PeerGpu, string>> = { vulkan: 'llama.cpp Vulkan', cuda: 'llama.cpp CUDA', cpu: 'llama.cpp CPU' };

/** The npm package holding each build's prebuilt binaries (Linux x64). */
export const PEER_PACKAGE: Readonly<Record<PeerGpu, string>> = { vulkan: 'linux-x64-vulkan', cuda: 'linux-x64-cuda', cpu: 'linux-x64' };

/**
 * Find the node-llama-cpp package folder: `$KPACK_NODE_LLAMA_CPP` (a node_modules folder that holds
 * node-llama-cpp, or the node-llama-cpp folder itself), else `<root>/.gpu-peer/node_modules/node-llama-cpp`
 * (packs/stage-peer.sh), else Node's resolution from `root` (an `npm install node-llama-cpp`).
 * @returns the folder holding node-llama-cpp's package.json, or null when none is found.
 * @throws Error when KPACK_NODE_LLAMA_CPP is set but holds no node-llama-cpp.
 */
export function findNodeLlamaCpp(root: string, env: NodeJS.ProcessEnv = process.env): string | null {
  const isPackage = (dir: string) => fs.existsSync(path.join(dir, 'package.json')) && readJson(path.join(dir, 'package.json')).name === 'node-llama-cpp';
  const given = env.KPACK_NODE_LLAMA_CPP;
  if (given) {
    for (const dir of [given, path.join(given, 'node-llama-cpp'), path.join(given, 'node_modules', 'node-llama-cpp')]) if (isPackage(dir)) return path.resolve(dir);
    throw new Error(`KPACK_NODE_LLAMA_CPP=${given}: no node-llama-cpp there (expected a node_modules folder holding it, or its own folder; packs/stage-peer.sh makes one)`);
  }
  const staged = path.join(root, '.gpu-peer', 'node_modules', 'node-llama-cpp');
  if (isPackage(staged)) return staged;
  for (const dir of [path.join(root, 'node_modules', 'node-llama-cpp')]) if (isPackage(dir)) return dir;
  return null;
}

function readJson(file: string): any {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

// node-llama-cpp is ESM only; TypeScript's CommonJS output would turn a plain import() into require().
const importEsm = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<any>;

/**
 * Import node-llama-cpp's ESM entry from its package folder (see findNodeLlamaCpp).
 * @returns the module namespace (getLlama, ...) and the package version.
 * @throws Error naming the folder when its package.json has no usable entry or the import fails.
 */
export async function importNodeLlamaCpp(dir: string): Promise<{ module: any; version: string }> {
  const pkg = readJson(path.join(dir, 'package.json'));
  const dot = pkg.exports?.['.'];
  const entry = (typeof dot === 'string' ? dot : dot?.import ?? dot?.default) ?? pkg.main;
  if (!entry) throw new Error(`${dir}: node-llama-cpp's package.json names no entry point`);
  try {
    return { module: await importEsm(pathToFileURL(path.join(dir, entry)).href), version: String(pkg.version) };
  } catch (e) {
    throw new Error(`${dir}: cannot import node-llama-cpp: ${(e as Error).message}`);
  }
}

/** Options of LlamaCppPeer.open. */
export interface PeerOptions {
  /** node-llama-cpp's package folder (findNodeLlamaCpp). */
  moduleDir: string;
  gpu: PeerGpu;
  /** GGUF model file. */
  model: string;
  /** Context (KV cache) length in tokens: at least the deepest depth + tokens of the cases to run. */
  contextSize: number;
  /** Vocabulary size: random token ids are drawn from [0, vocab). */
  vocab: number;
  /** Tokens per decode call (default 512). */
  batchSize?: number;
  /** K/V cache type: q8_0 / q4_0 give llama.cpp a Q8_0 / Q4_0 cache for keys and values, as kpack's; f16 and f32 leave its default (f16). */
  kvType?: KvType;
  /** CPU threads for llama.cpp (default: os.availableParallelism()). */
  threads?: number;
  /** Where node-llama-cpp's warnings and errors go (default stderr). */
  log?: (line: string) => void;
}

/**
 * One node-llama-cpp build with the model loaded and one context (see the module doc for the method).
 * Open with LlamaCppPeer.open, run cases with benchCase, then close.
 */
export class LlamaCppPeer {
  private constructor(
    readonly gpu: PeerGpu,
    /** Engine label, e.g. "llama.cpp Vulkan". */
    readonly engine: string,
    /** The device llama.cpp runs on: GPU names from ggml, or the CPU's model name for the CPU build. */
    readonly device: string,
    /** node-llama-cpp's version (its binaries carry the llama.cpp it was built from). */
    readonly version: string,
    private readonly llama: any,
    private readonly sequence: any,
    private readonly vocab: number,
    readonly contextSize: number,
  ) {}

  /**
   * Load node-llama-cpp's prebuilt `gpu` build (never building or downloading anything), the model with
   * every layer on the GPU, and a context of opts.contextSize tokens with flash attention and an opts.kvType cache.
   * @throws Error starting "llama.cpp <build>:" when the build cannot load (binaries not staged beside
   *   node-llama-cpp as @node-llama-cpp/linux-x64[-vulkan|-cuda], no
   *   driver, no device: ggml's Vulkan back-end skips CPU devices such as lavapipe unless
   *   GGML_VK_VISIBLE_DEVICES names them), or the model or the context cannot be made.
   */
  static async open(opts: PeerOptions): Promise<LlamaCppPeer> {
    const engine = PEER_ENGINE[opts.gpu];
    const log = opts.log ?? ((line: string) => process.stderr.write(line + '\n'));
    const binaries = [path.join(opts.moduleDir, '..'), path.join(opts.moduleDir, 'node_modules')].map((d) => path.join(d, '@node-llama-cpp', PEER_PACKAGE[opts.gpu]));
    if (!binaries.some((d) => fs.existsSync(d))) {
      throw new Error(`${engine}: its binaries are not staged (no ${binaries[0]}; bash packs/stage-peer.sh ${opts.gpu})`);
    }
    const { module: nlc, version } = await importNodeLlamaCpp(opts.moduleDir);
    let llama: any;
    try {
      llama = await nlc.getLlama({
        gpu: opts.gpu === 'cpu' ? false : opts.gpu,
        build: 'never',
        skipDownload: true,
        usePrebuiltBinaries: true,
        progressLogs: false,
        // node-llama-cpp's CPU build defaults to max(4, cores) threads: on 2 cores its spinning threadpool
        // then runs 100-1000x slower. One thread per core, as llama-bench (which counts physical cores).
        maxThreads: opts.threads ?? os.availableParallelism(),
        logLevel: 'warn',
        logger: (level: string, message: string) => {
          if (level === 'error' || level === 'fatal' || level === 'warn') log(`${engine}: ${message.trimEnd()}`);
        },
      });
    } catch (e) {
      throw new Error(`${engine}: the prebuilt build does not load: ${(e as Error).message.split('\n')[0]}`);
    }
    try {
      if (opts.gpu !== 'cpu' && llama.gpu !== opts.gpu) throw new Error(`node-llama-cpp loaded its ${llama.gpu || 'CPU'} build instead`);
      const gpus: string[] = opts.gpu === 'cpu' ? [] : await llama.getGpuDeviceNames();
      if (opts.gpu !== 'cpu' && gpus.length === 0) {
        throw new Error('no GPU device (ggml skips CPU Vulkan devices such as lavapipe unless GGML_VK_VISIBLE_DEVICES=0 names them)');
      }
      const device = opts.gpu === 'cpu' ? (os.cpus()[0]?.model ?? 'CPU').trim() : gpus.join(', ');
      const model = await llama.loadModel({ modelPath: path.resolve(opts.model), gpuLayers: opts.gpu === 'cpu' ? 0 : 'max', ignoreMemorySafetyChecks: true });
      const context = await model.createContext({
        contextSize: opts.contextSize,
        batchSize: opts.batchSize ?? 512,
        flashAttention: true,
        // node-llama-cpp >= 3.18: ggml type names for the cache (GgmlType keys)
        ...(opts.kvType && isKvQuantType(opts.kvType) ? { experimentalKvCacheKeyType: opts.kvType.toUpperCase(), experimentalKvCacheValueType: opts.kvType.toUpperCase() } : {}),
        sequences: 1,
        ignoreMemorySafetyChecks: true,
        failedCreationRemedy: false,
      });
      return new LlamaCppPeer(opts.gpu, engine, device, version, llama, context.getSequence(), opts.vocab, context.contextSize);
    } catch (e) {
      await llama.dispose().catch(() => undefined);
      throw new Error(`${engine}: ${(e as Error).message.split('\n')[0]}`);
    }
  }

  /** Bring the sequence to exactly `depth` tokens: erase the tail, or evaluate random tokens (untimed). */
  private async setDepth(depth: number, random: () => number): Promise<void> {
    const at: number = this.sequence.nextTokenIndex;
    if (at > depth) await this.sequence.eraseContextTokenRanges([{ start: depth, end: at }]);
    else if (at < depth) await this.sequence.evaluateWithoutGeneratingNewTokens(this.tokens(depth - at, random));
  }

  private tokens(n: number, random: () => number): number[] {
    return Array.from({ length: n }, () => Math.floor(random() * this.vocab));
  }

  /** One timed run of `c` from depth c.depth; returns milliseconds. */
  private async runOnce(c: BenchCase, random: () => number): Promise<number> {
    const greedy = { generateNext: { token: true, options: { temperature: 0 } } };
    const t0 = performance.now();
    if (c.kind === 'pp') {
      const toks: any[] = this.tokens(c.tokens, random);
      toks[toks.length - 1] = [toks[toks.length - 1], greedy];
      await this.sequence.controlledEvaluate(toks);
    } else {
      let token = Math.floor(random() * this.vocab);
      for (let i = 0; i < c.tokens; i++) {
        const [out] = await this.sequence.controlledEvaluate([[token, greedy]]);
        token = out?.next?.token ?? Math.floor(random() * this.vocab);
      }
    }
    return performance.now() - t0;
  }

  /**
   * Time one case: fill to c.depth, one warm-up run, then `repetitions` timed runs, erasing the case's
   * tokens after each so every run starts at depth c.depth.
   * @returns the result in kpack's BenchResult shape (t/s mean and sample sd over the runs, each run's ms).
   * @throws RangeError when depth + tokens exceeds the context.
   */
  async benchCase(c: BenchCase, repetitions: number, seed = 1): Promise<BenchResult> {
    if (c.depth + c.tokens > this.contextSize) {
      throw new RangeError(`${this.engine}: ${testName(c)} needs ${c.depth + c.tokens} positions; the context holds ${this.contextSize}`);
    }
    const random = seededRandom(seed);
    await this.setDepth(c.depth, random);
    const runsMs: number[] = [];
    for (let r = -1; r < repetitions; r++) {
      const ms = await this.runOnce(c, random);
      if (r >= 0) runsMs.push(ms);
      await this.setDepth(c.depth, random);
    }
    const rates = runsMs.map((ms) => (c.tokens * 1000) / ms);
    return { ...c, test: testName(c), tokensPerSecond: mean(rates), stddev: rates.length > 1 ? sampleStandardDeviation(rates) : 0, runsMs };
  }

  /** Free the context, the model and the build's back-end. */
  async close(): Promise<void> {
    await this.llama.dispose();
  }
}
