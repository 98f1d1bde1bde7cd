/**
 * Loader of the native Vulkan back-end (build/Release/kpack_vulkan.node, built by `npm run build:native`).
 *
 * The addon is loaded lazily on first use, so importing this module never throws; calling into
 * `vulkan` without a usable addon/driver/device throws an Error saying what to install.
 *
 * Test/debug knobs read at createContext() time (environment variables):
 *  - KPACK_VULKAN_ADDON: absolute path of the .node file to load instead of the search below.
 *  - KPACK_VULKAN_NO_PUSH_DESCRIPTOR=1: do not use VK_KHR_push_descriptor (descriptor-pool path).
 *  - KPACK_VULKAN_STAGING_BYTES=<n>: staging chunk size for upload/download (default 64 MiB).
 *  - KPACK_VULKAN_VALIDATION=1: enable VK_LAYER_KHRONOS_validation when installed (read once, at instance creation).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Context, ContextOptions, DeviceInfo, VulkanBackend } from './api';

export type * from './api';

/** Counts of native objects currently holding Vulkan handles (for leak tests). */
export interface LiveObjects {
  contexts: number;
  buffers: number;
  pipelines: number;
  sequences: number;
}

interface NativeAddon {
  listDevices(): DeviceInfo[];
  createContext(deviceIndex: number, options?: ContextOptions): Context;
  liveObjects(): LiveObjects;
}

const ADDON_FILE = path.join('build', 'Release', 'kpack_vulkan.node');
const DRIVER_HINT = 'install a Vulkan driver (mesa-vulkan-drivers for the CPU device lavapipe)';

let addon: NativeAddon | undefined;
let loadError: Error | undefined;
let loadedFrom: string | undefined;

/** Where the addon may live: $KPACK_VULKAN_ADDON, else build/Release under each ancestor of this file (up to 5). */
function candidates(): string[] {
  const fromEnv = process.env.KPACK_VULKAN_ADDON;
  if (fromEnv) return [path.resolve(fromEnv)];
  const out: string[] = [];
  let dir = __dirname;
  for (let i = 0; i < 5; i++) {
    out.push(path.join(dir, ADDON_FILE));
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return out;
}

/**
 * Load (once) and return the native addon.
 * @throws Error explaining how to build the addon or install the Vulkan loader/driver.
 */
export function loadAddon(): NativeAddon {
  if (addon) return addon;
  if (loadError) throw loadError;
  const paths = candidates();
  const found = paths.find((p) => fs.existsSync(p));
  if (!found) {
    loadError = new Error(
      `kpack Vulkan addon not built (looked for ${paths.join(', ')}): run \`npm run build:native\` ` +
        `(needs libvulkan-dev, python3 and a C++17 compiler); at run time, ${DRIVER_HINT}`,
    );
    throw loadError;
  }
  try {
    addon = require(found) as NativeAddon;
    loadedFrom = found;
    return addon;
  } catch (e) {
    loadError = new Error(
      `failed to load the kpack Vulkan addon ${found}: ${(e as Error).message}; ` +
        `install the Vulkan loader (libvulkan1) and ${DRIVER_HINT}, or rebuild with \`npm run build:native\``,
    );
    throw loadError;
  }
}

/** Path the addon was loaded from (undefined before the first successful load). */
export function addonPath(): string | undefined {
  return loadedFrom;
}

/** Whether the addon loads and reports at least one device (never throws). */
export function isAvailable(): boolean {
  try {
    return loadAddon().listDevices().length > 0;
  } catch {
    return false;
  }
}

/** Live native objects per type (contexts, buffers, pipelines, sequences). */
export function liveObjects(): LiveObjects {
  return loadAddon().liveObjects();
}

/**
 * The Vulkan back-end of api.ts.
 * listDevices()/createContext() throw "no Vulkan device found: install a Vulkan driver ..." when the
 * loader has no driver or no device; createContext() throws a RangeError for a bad index.
 */
export const vulkan: VulkanBackend = {
  listDevices: () => loadAddon().listDevices(),
  createContext: (deviceIndex: number, options?: ContextOptions) => loadAddon().createContext(deviceIndex, options),
};
