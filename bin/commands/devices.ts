import type { CommandModule } from 'yargs';
import { vulkan } from '../../native/vulkan';
import { describeDevice, fingerprintOf } from '../../tuner/pack/fingerprint';
import { formatBytes } from '../common';

/** `kpack devices`: every Vulkan device with its fingerprint and the limits kernels are pruned by. */
export const devicesCommand: CommandModule<object, { json: boolean }> = {
  command: 'devices',
  describe: 'List Vulkan devices with their fingerprint and limits',
  builder: (y) => y.option('json', { type: 'boolean', default: false, describe: 'print JSON' }) as any,
  handler: (args) => {
    const devices = vulkan.listDevices();
    if (args.json) {
      console.log(JSON.stringify(devices.map((d) => ({ ...d, fingerprint: fingerprintOf(d) })), null, 2));
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
  },
};
