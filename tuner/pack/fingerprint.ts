/**
 * Device fingerprints: which GPU + driver a pack was tuned on.
 *
 * Matching policy (compareDevices / sameDevice):
 * - MUST match: vendorId, deviceId, driverName, driverVersion. Tuning results depend on the silicon
 *   and on the driver's shader compiler, so a pack tuned on another GPU or another driver version is
 *   rejected by readPack (a driver update means re-tuning, or --force-pack).
 * - Warning only: apiVersion (a driver reports the same API version for the same driver version, a
 *   difference points to a layer/loader quirk, not different code generation) and deviceName (the ids
 *   are authoritative; marketing names vary between drivers and OSes).
 */
import type { DeviceInfo } from '../../native/vulkan/api';

export interface DeviceFingerprint {
  vendorId: number;
  deviceId: number;
  driverName: string;
  /** Raw driverVersion (vendor-specific encoding, see formatDriverVersion). */
  driverVersion: number;
  /** "major.minor.patch" Vulkan API version of the device. */
  apiVersion: string;
  deviceName: string;
  /** Driver's own version string (VkPhysicalDeviceDriverProperties.driverInfo), for display only. */
  driverInfo?: string;
}

/** The fingerprint a pack records for a device (vendor/device id, driver name and version, API version, name). */
export function fingerprintOf(info: DeviceInfo): DeviceFingerprint {
  const fp: DeviceFingerprint = {
    vendorId: info.vendorId,
    deviceId: info.deviceId,
    driverName: info.driverName,
    driverVersion: info.driverVersion >>> 0,
    apiVersion: info.apiVersion,
    deviceName: info.name,
  };
  if (info.driverInfo) fp.driverInfo = info.driverInfo;
  return fp;
}

/** Accepts a fingerprint or a full DeviceInfo. */
export function toFingerprint(d: DeviceFingerprint | DeviceInfo): DeviceFingerprint {
  return 'deviceName' in d ? d : fingerprintOf(d);
}

const hex4 = (v: number): string => '0x' + (v >>> 0).toString(16).padStart(4, '0');

/** Human-readable driver version, decoded per vendor (NVIDIA 10.8.8.6 bits, Intel/Windows 18.14, else VK_MAKE_VERSION). */
export function formatDriverVersion(vendorId: number, v: number): string {
  v = v >>> 0;
  if (vendorId === 0x10de) return `${v >>> 22}.${(v >>> 14) & 0xff}.${(v >>> 6) & 0xff}.${v & 0x3f}`;
  if (vendorId === 0x8086 && process.platform === 'win32') return `${v >>> 14}.${v & 0x3fff}`;
  return `${v >>> 22}.${(v >>> 12) & 0x3ff}.${v & 0xfff}`;
}

/** "NVIDIA H100 (vendor 0x10de, device 0x2330, driver NVIDIA 535.104.5.0 [535.104.05], Vulkan 1.3.260)". */
export function describeDevice(fp: DeviceFingerprint): string {
  const drv = `${fp.driverName} ${formatDriverVersion(fp.vendorId, fp.driverVersion)}` + (fp.driverInfo ? ` [${fp.driverInfo}]` : '');
  return `${fp.deviceName} (vendor ${hex4(fp.vendorId)}, device ${hex4(fp.deviceId)}, driver ${drv}, Vulkan ${fp.apiVersion})`;
}

export interface DeviceComparison {
  /** True when every MUST-match field is equal. */
  same: boolean;
  /** The MUST-match fields that differ, e.g. "driverVersion 1 != 2". */
  mismatches: string[];
  /** The warning-only fields that differ. */
  warnings: string[];
}

/**
 * Compare two fingerprints: `same` when vendor id, device id, driver name and driver version match;
 * other differences (API version, device name) are warnings.
 */
export function compareDevices(a: DeviceFingerprint, b: DeviceFingerprint): DeviceComparison {
  const mismatches: string[] = [];
  const warnings: string[] = [];
  if (a.vendorId !== b.vendorId) mismatches.push(`vendorId ${hex4(a.vendorId)} != ${hex4(b.vendorId)}`);
  if (a.deviceId !== b.deviceId) mismatches.push(`deviceId ${hex4(a.deviceId)} != ${hex4(b.deviceId)}`);
  if (a.driverName !== b.driverName) mismatches.push(`driverName "${a.driverName}" != "${b.driverName}"`);
  if (a.driverVersion !== b.driverVersion) {
    mismatches.push(
      `driverVersion ${formatDriverVersion(a.vendorId, a.driverVersion)} != ${formatDriverVersion(b.vendorId, b.driverVersion)}`,
    );
  }
  if (a.apiVersion !== b.apiVersion) warnings.push(`Vulkan API version ${a.apiVersion} != ${b.apiVersion}`);
  if (a.deviceName !== b.deviceName) warnings.push(`device name "${a.deviceName}" != "${b.deviceName}"`);
  return { same: mismatches.length === 0, mismatches, warnings };
}

/** Same GPU and driver (vendorId, deviceId, driverName, driverVersion); see the module doc. */
export function sameDevice(a: DeviceFingerprint, b: DeviceFingerprint): boolean {
  return compareDevices(a, b).same;
}
