/**
 * Helpers shared by the commands: argument parsing, device opening, where packs live.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Context } from '../native/vulkan/api';
import { vulkan } from '../native/vulkan';

/** The package root (holds package.json), found from this file's location in dist/bin or bin. */
export const packageRoot = (() => {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('kpack: cannot find the package root (package.json) above ' + __dirname);
    dir = up;
  }
  return dir;
})();

/** kpack's own cache: pipeline caches, autotune journals ($KPACK_CACHE or ~/.cache/kpack). */
export const cacheDir = process.env.KPACK_CACHE ?? path.join(os.homedir(), '.cache', 'kpack');
/** The built-in default pack, made by `npm run build` (kpack generate --default-pack). */
export const defaultPackPath = path.join(packageRoot, 'dist', 'default.kpack');
/** The variant manifest and SPIR-V made at build time. */
export const builtKernelsDir = path.join(packageRoot, 'dist', 'kernels');

/**
 * Parse "1,512" into [1, 512].
 * @throws Error naming the option when an item is not a non-negative integer.
 */
export function parseIntList(option: string, value: string | number): number[] {
  const items = String(value).split(',').map((s) => s.trim()).filter(Boolean);
  const out = items.map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${option}: "${s}" is not a non-negative integer (expected a list like 1,512)`);
    return n;
  });
  if (out.length === 0) throw new Error(`--${option}: empty list`);
  return out;
}

/**
 * Parse a duration like "90s", "10m", "1h" or plain milliseconds into milliseconds.
 * @throws Error naming the option for anything else.
 */
export function parseDuration(option: string, value: string | number): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(String(value).trim());
  if (!m) throw new Error(`--${option}: "${value}" is not a duration (expected e.g. 90s, 10m, 1h)`);
  const scale = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 'ms']!;
  return Number(m[1]) * scale;
}

/**
 * Open Vulkan device `index` with a pipeline cache under the kpack cache directory.
 * @throws Error listing the devices when the index is out of range.
 */
export function openDevice(index: number): Context {
  const devices = vulkan.listDevices();
  if (!(index >= 0 && index < devices.length)) {
    throw new Error(`--device ${index}: no such Vulkan device (found ${devices.length}: ${devices.map((d) => `${d.index} ${d.name}`).join(', ')})`);
  }
  const info = devices[index];
  fs.mkdirSync(path.join(cacheDir, 'pipelines'), { recursive: true });
  const slug = `${info.vendorId.toString(16)}-${info.deviceId.toString(16)}-${info.driverVersion}`;
  return vulkan.createContext(index, { pipelineCachePath: path.join(cacheDir, 'pipelines', `${slug}.bin`) });
}

/** Check that `file` exists and is a regular file; the message names the option and what was expected. */
export function requireFile(option: string, file: string, what: string): string {
  if (!fs.existsSync(file)) throw new Error(`${option} ${file}: no such file (expected ${what})`);
  if (!fs.statSync(file).isFile()) throw new Error(`${option} ${file}: not a regular file (expected ${what})`);
  return file;
}

/** Format bytes as MiB/GiB. */
export function formatBytes(n: number): string {
  return n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(2)} GiB` : `${(n / 2 ** 20).toFixed(1)} MiB`;
}
