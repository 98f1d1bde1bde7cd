import type { CommandModule } from 'yargs';
import { hip, type HipDeviceInfo } from '../../native/hip';
import { vulkan } from '../../native/vulkan';
import { describeDevice, fingerprintOf } from '../../tuner/pack/fingerprint';
import { formatBytes } from '../common';

/** The HIP / CUDA devices, or why there are none (never throws). */
function hipDevices(): { devices: HipDeviceInfo[]; reason?: string } {
  const a = hip.available();
  if (!a.ok) return { devices: [], reason: a.reason };
  try {
    return { devices: hip.listDevices() };
  } catch (e) {
    return { devices: [], reason: (e as Error).message };
  }
}

/** Print the HIP / CUDA devices, one block each like the Vulkan ones, or the reason there are none. */
function printHip(h: { devices: HipDeviceInfo[]; reason?: string }): void {
  if (h.reason) {
    console.log(`HIP: unavailable: ${h.reason.replace(/^HIP back-end unavailable: /, '')}`);
    return;
  }
  for (const d of h.devices) {
    console.log(`[hip ${d.index}] ${d.name} (${d.api} ${d.archFull}, driver ${d.driverVersion})`);
    console.log(
      `    warp ${d.warpSize}, multiprocessors ${d.multiprocessorCount}, block <= ${d.maxThreadsPerBlock} threads,` +
        ` shared memory ${d.sharedMemPerBlock} B (opt-in ${d.sharedMemPerBlockOptin} B), memory ${formatBytes(d.totalMem)}`,
    );
  }
}

/**
 * `kpack devices`: every Vulkan device with its fingerprint and the limits kernels are pruned by,
 * then the HIP / CUDA devices (or "HIP: unavailable: <reason>").
 */
export const devicesCommand: CommandModule<object, { json: boolean }> = {
  command: 'devices',
  describe: 'List Vulkan devices with their fingerprint and limits, and HIP / CUDA devices',
  builder: (y) => y.option('json', { type: 'boolean', default: false, describe: 'print JSON: { vulkan: [...], hip: [...], hipUnavailable? }' }) as any,
  handler: (args) => {
    const h = hipDevices();
    let devices: ReturnType<typeof vulkan.listDevices>;
    try {
      devices = vulkan.listDevices();
    } catch (e) {
      // No Vulkan device: still say what HIP has, then fail as before.
      if (!args.json) printHip(h);
      throw e;
    }
    if (args.json) {
      const vk = devices.map((d) => ({ ...d, fingerprint: fingerprintOf(d) }));
      console.log(JSON.stringify({ vulkan: vk, hip: h.devices, ...(h.reason ? { hipUnavailable: h.reason } : {}) }, null, 2));
      return;
    }
    for (const d of devices) {
      console.log(`[${d.index}] ${describeDevice(fingerprintOf(d))}`);
      console.log(`    type ${d.deviceType}, Vulkan ${d.apiVersion}, driver ${d.driverName} ${d.driverInfo}`);
      console.log(
        `    subgroup ${d.subgroupSize}, shared memory ${d.maxSharedMemoryBytes} B, workgroup <= ${d.maxWorkgroupInvocations} invocations,` +
          ` timestamp period ${d.timestampPeriod} ns, multiprocessors ${d.multiprocessorCount || 'unknown'}`,
      );
      console.log(`    memory heaps: ${d.memoryHeaps.map((h) => `${formatBytes(h.size)}${h.deviceLocal ? ' (device-local)' : ''}`).join(', ')}`);
      const f = Object.entries(d.features).filter(([, v]) => v).map(([k]) => k);
      console.log(`    features: ${f.join(', ') || 'none'}`);
      if (d.coopmatShapes.length > 0) {
        const shapes = d.coopmatShapes.map((s) => `${s.M}x${s.N}x${s.K} ${s.aType}*${s.bType}+${s.cType}`);
        console.log(`    coopmat shapes: ${[...new Set(shapes)].join(', ')}`);
      }
    }
    printHip(h);
  },
};
