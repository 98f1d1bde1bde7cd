/**
 * Loader of the native HIP / CUDA back-end (build/Release/kpack_hip.node, built by `npm run build:native`
 * beside the Vulkan addon; it links no GPU library, so it builds and loads with neither CUDA nor ROCm).
 *
 * The addon is loaded lazily; importing this module never throws. On load the device-side prelude
 * templates/partials/hip_cuda_prelude.h is handed to the addon for NVRTC compiles.
 *
 * Environment (read on first use):
 *  - KPACK_HIP_ADDON: path of the .node file to load instead of the search below.
 *  - KPACK_HIP_PRELUDE: path of the prelude instead of templates/partials/hip_cuda_prelude.h.
 *  - KPACK_HIP_PROVIDERS: 'cuda,hip' (default; the order of listDevices()), 'cuda' or 'hip'.
 *  - KPACK_CUDA_LIB, KPACK_NVRTC_LIB, KPACK_HIP_LIB, KPACK_HIPRTC_LIB: a library path tried first.
 *  - KPACK_CUDA_INCLUDE: a CUDA include directory holding cuda_fp16.h for NVRTC (else the one beside libnvrtc).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Availability, CompileResult, HipBackend, HipContext, HipDeviceInfo, OfflineCompileOptions } from './api';

export type * from './api';

/** Counts of native objects currently holding driver handles (for leak tests). */
export interface HipLiveObjects {
  contexts: number;
  buffers: number;
  modules: number;
}

interface NativeAddon extends HipBackend {
  setPrelude(text: string): void;
  liveObjects(): HipLiveObjects;
}

const ADDON_FILE = path.join('build', 'Release', 'kpack_hip.node');
const PRELUDE_FILE = path.join('templates', 'partials', 'hip_cuda_prelude.h');

let addon: NativeAddon | undefined;
let loadError: Error | undefined;

/** `rel` under each ancestor of this file (up to 5 levels: native/hip in the sources or dist/native/hip). */
function upward(rel: string): string[] {
  const out: string[] = [];
  let dir = __dirname;
  for (let i = 0; i < 5; i++) {
    out.push(path.join(dir, rel));
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return out;
}

/** The prelude's path: $KPACK_HIP_PRELUDE, else templates/partials/hip_cuda_prelude.h above this file. */
export function preludePath(): string | undefined {
  if (process.env.KPACK_HIP_PRELUDE) return path.resolve(process.env.KPACK_HIP_PRELUDE);
  return upward(PRELUDE_FILE).find((p) => fs.existsSync(p));
}

/**
 * Load (once) and return the native addon.
 * @throws Error saying how to build it when build/Release/kpack_hip.node is missing or fails to load.
 */
export function loadHipAddon(): NativeAddon {
  if (addon) return addon;
  if (loadError) throw loadError;
  const paths = process.env.KPACK_HIP_ADDON ? [path.resolve(process.env.KPACK_HIP_ADDON)] : upward(ADDON_FILE);
  const found = paths.find((p) => fs.existsSync(p));
  if (!found) {
    loadError = new Error(`kpack HIP addon not built (looked for ${paths.join(', ')}): run \`npm run build:native\``);
    throw loadError;
  }
  try {
    const a = require(found) as NativeAddon;
    const prelude = preludePath();
    if (prelude) a.setPrelude(fs.readFileSync(prelude, 'utf8'));
    addon = a;
    return a;
  } catch (e) {
    loadError = new Error(`failed to load the kpack HIP addon ${found}: ${(e as Error).message}; rebuild with \`npm run build:native\``);
    throw loadError;
  }
}

/** Live native objects per type (contexts, buffers, modules). */
export function hipLiveObjects(): HipLiveObjects {
  return loadHipAddon().liveObjects();
}

/**
 * The HIP / CUDA back-end of api.ts. available() never throws (an unbuilt addon is reported as its
 * reason); the others throw as documented there.
 */
export const hip: HipBackend = {
  available: (): Availability => {
    try {
      return loadHipAddon().available();
    } catch (e) {
      const no = { ok: false, reason: (e as Error).message };
      return { ...no, cuda: no, hip: no, nvrtc: no, hiprtc: no };
    }
  },
  listDevices: (): HipDeviceInfo[] => loadHipAddon().listDevices(),
  createContext: (deviceIndex: number): HipContext => loadHipAddon().createContext(deviceIndex),
  compile: (source: string, options: OfflineCompileOptions): CompileResult => loadHipAddon().compile(source, options),
};
