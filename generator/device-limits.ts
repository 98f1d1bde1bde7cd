/**
 * DeviceInfo (native) -> DeviceLimits (what pruning and instance selection need).
 */
import type { DeviceInfo } from '../native/vulkan/api';
import type { DeviceLimits } from './schema';

/** Limits of a physical device as reported by the Vulkan back-end. */
export function deviceLimits(info: DeviceInfo): DeviceLimits {
  return {
    subgroupSize: info.subgroupSize,
    maxSharedMemoryBytes: info.maxSharedMemoryBytes,
    maxWorkgroupInvocations: info.maxWorkgroupInvocations,
    maxWorkgroupSizeX: info.maxWorkgroupSize[0],
    coopmatShapes: info.coopmatShapes.slice(),
    shaderFloat16: info.features.shaderFloat16,
    coopmat: info.features.coopmat && info.coopmatShapes.length > 0,
    coopmat2: info.features.coopmat2,
    integerDotProduct: info.features.integerDotProduct,
    atomicFloatAdd: info.features.atomicFloatAdd,
    multiprocessorCount: info.multiprocessorCount,
  };
}

/**
 * Conservative limits every Vulkan 1.3 compute device meets (spec minimums, subgroup 32 is only a
 * guess): used when generating without a device. No coopmat.
 */
export const portableLimits: DeviceLimits = {
  subgroupSize: 32,
  maxSharedMemoryBytes: 16384,
  maxWorkgroupInvocations: 128,
  maxWorkgroupSizeX: 128,
  coopmatShapes: [],
  shaderFloat16: false,
  coopmat: false,
  coopmat2: false,
  integerDotProduct: false,
  atomicFloatAdd: false,
  multiprocessorCount: 0,
};
