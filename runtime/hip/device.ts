/**
 * Opening the HIP / CUDA device of a run (`kpack run|bench --backend hip --hip-device N`), with errors that
 * name the options and what was expected, and the line that says which API runs.
 */
import { hip } from '../../native/hip';
import type { Availability, HipContext } from '../../native/hip/api';

/** An opened HIP device and its description, e.g. "HIP (cuda sm_90, NVIDIA H200, NVRTC 12.8)". */
export interface OpenedHipDevice {
  ctx: HipContext;
  description: string;
}

/** "HIP (cuda sm_90, <name>, <compiler summary>)" of a device and its compiler status. */
export function describeHipDevice(dev: HipContext['device'], compiler: string): string {
  return `HIP (${dev.api} ${dev.arch}, ${dev.name}, ${compiler})`;
}

/**
 * Open HIP device `index` after checking that the back-end, the device and its runtime compiler exist.
 * `avail` is for tests (default hip.available()).
 * @throws Error naming --backend hip when there is no HIP / CUDA device or no runtime compiler (NVRTC on
 *   NVIDIA, hiprtc on AMD; the library reason included), and --hip-device when the index is out of range.
 */
export function openHipDevice(index: number, avail: Availability = hip.available(), open: (i: number) => HipContext = (i) => hip.createContext(i)): OpenedHipDevice {
  if (!avail.ok) throw new Error(`--backend hip: no HIP / CUDA device (${avail.reason}); expected a CUDA driver (libcuda.so.1) or ROCm (libamdhip64.so) with a GPU`);
  const devices = hip.listDevices();
  if (!(Number.isInteger(index) && index >= 0 && index < devices.length)) {
    throw new Error(`--hip-device ${index}: no such HIP / CUDA device (found ${devices.length}: ${devices.map((d) => `${d.index} ${d.name}`).join(', ')})`);
  }
  const api = devices[index].api;
  const compiler = api === 'cuda' ? avail.nvrtc : avail.hiprtc;
  if (!compiler.ok) {
    throw new Error(`--backend hip: ${devices[index].name} has no runtime compiler (${api === 'cuda' ? 'NVRTC' : 'hiprtc'}: ${compiler.reason}); expected ${api === 'cuda' ? 'libnvrtc.so (set KPACK_NVRTC_LIB to its path)' : 'libhiprtc.so (KPACK_HIPRTC_LIB)'}`);
  }
  const ctx = open(index);
  return { ctx, description: describeHipDevice(ctx.device, compiler.reason) };
}
