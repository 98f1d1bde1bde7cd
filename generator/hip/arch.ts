/**
 * AMD offload architectures for ahead-of-time HIP compilation: the wavefront sizes each can run, the
 * hipcc flag selecting one, and whether the installed ROCm device libraries (Debian 12: hipcc 5.2.3 +
 * rocm-device-libs 5.2) can build it at all. Pure data plus one filesystem probe; no compiler runs here.
 *
 * Debian 12's rocm-device-libs ship bitcode (oclc_isa_version_<N>.bc) up to gfx90a/gfx940 and
 * gfx1010..gfx1036; gfx11 (RDNA3, e.g. gfx1100) arrived in ROCm 5.3+, so it cannot be built here.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** What kpack knows about an offload architecture. */
export interface HipArch {
  /** LLVM target name, e.g. "gfx90a". */
  name: string;
  /**
   * Wavefront sizes kpack builds for it, native first. gfx9: 64. gfx10+/gfx11 also run wave64 in hardware,
   * but HIP 5.2's headers refuse it ("HIP is not supported on GFX10 with wavefront size 64"): 32 only.
   */
  waves: readonly (32 | 64)[];
  /** LDS (shared memory) per workgroup, bytes. */
  ldsBytes: number;
  /** One-line description for messages. */
  doc: string;
}

/** Known architectures (others are refused with the list). */
export const HIP_ARCHS: readonly HipArch[] = [
  { name: 'gfx906', waves: [64], ldsBytes: 65536, doc: 'Vega 20 (MI50/MI60, Radeon VII)' },
  { name: 'gfx908', waves: [64], ldsBytes: 65536, doc: 'CDNA1 (MI100)' },
  { name: 'gfx90a', waves: [64], ldsBytes: 65536, doc: 'CDNA2 (MI200: MI210, MI250X)' },
  { name: 'gfx940', waves: [64], ldsBytes: 65536, doc: 'CDNA3 (MI300, early ISA)' },
  { name: 'gfx1030', waves: [32], ldsBytes: 65536, doc: 'RDNA2 (RX 6800/6900, W6800)' },
  { name: 'gfx1100', waves: [32], ldsBytes: 65536, doc: 'RDNA3 (RX 7900, W7900); needs ROCm >= 5.3' },
];

/**
 * The architecture named `name`.
 * @throws Error naming the bad value and listing the known architectures.
 */
export function hipArch(name: string): HipArch {
  const a = HIP_ARCHS.find((x) => x.name === name);
  if (!a) throw new Error(`unknown HIP offload arch "${name}" (known: ${HIP_ARCHS.map((x) => x.name).join(', ')})`);
  return a;
}

/**
 * hipcc flags selecting the wavefront size on `arch`: [] for the native size, `-mwavefrontsize64` /
 * `-mno-wavefrontsize64` for the other one where the arch lists it.
 * @throws Error when the arch cannot run that wavefront size (e.g. wave32 on gfx90a).
 */
export function waveFlags(arch: HipArch, wave: number): string[] {
  if (!arch.waves.includes(wave as 32 | 64)) throw new Error(`${arch.name} (${arch.doc}) cannot run wave${wave} (waves: ${arch.waves.join(', ')})`);
  if (wave === arch.waves[0]) return [];
  return wave === 64 ? ['-mwavefrontsize64'] : ['-mno-wavefrontsize64'];
}

/** Directories where ROCm device-library bitcode lives (Debian's first; $KPACK_ROCM_DEVICE_LIBS overrides). */
export function deviceLibDirs(): string[] {
  const env = process.env.KPACK_ROCM_DEVICE_LIBS;
  if (env) return [env];
  return ['/usr/lib/x86_64-linux-gnu/amdgcn/bitcode', '/usr/lib/llvm-15/lib/clang/15.0.6/lib/amdgcn/bitcode', '/opt/rocm/amdgcn/bitcode', '/opt/rocm/lib/llvm/lib/clang/amdgcn/bitcode'];
}

/** The ISA-version suffix of the device-library file for an arch: "gfx90a" -> "90a", "gfx1030" -> "1030". */
export const isaSuffix = (arch: string): string => arch.replace(/^gfx/, '');

/**
 * Architectures the installed device libraries can build (from their oclc_isa_version_*.bc files),
 * sorted; empty when none is installed.
 */
export function buildableArchs(dirs: string[] = deviceLibDirs()): string[] {
  const out = new Set<string>();
  for (const d of dirs) {
    let files: string[];
    try {
      files = fs.readdirSync(d);
    } catch {
      continue;
    }
    for (const f of files) {
      const m = /^oclc_isa_version_([0-9a-f]+)\.bc$/.exec(f);
      if (m) out.add(`gfx${m[1]}`);
    }
  }
  return [...out].sort();
}

/**
 * Why `arch` cannot be built with the installed toolchain, or null when it can: unknown arch, or no
 * device-library bitcode for it (the message names the arch, the directories searched and the archs
 * that can be built).
 */
export function archUnbuildable(arch: string, dirs: string[] = deviceLibDirs()): string | null {
  try {
    hipArch(arch);
  } catch (e) {
    return (e as Error).message;
  }
  const lib = dirs.find((d) => fs.existsSync(path.join(d, `oclc_isa_version_${isaSuffix(arch)}.bc`)));
  if (lib) return null;
  const can = buildableArchs(dirs).filter((a) => HIP_ARCHS.some((k) => k.name === a));
  return (
    `offload arch ${arch} cannot be built here: the ROCm device libraries have no oclc_isa_version_${isaSuffix(arch)}.bc ` +
    `(searched ${dirs.join(', ')}; Debian 12's hipcc 5.2 / rocm-device-libs 5.2 predate ${arch === 'gfx1100' || arch.startsWith('gfx11') ? 'gfx11' : arch}); ` +
    `buildable known archs: ${can.length ? can.join(', ') : 'none (install rocm-device-libs)'}`
  );
}

/** The 16x16x16 f16 x f16 -> f32 matrix instruction templates/partials/hip_mma.hip.hbs uses on a target. */
export type HipMatrixInstruction = 'mfma' | 'wmma' | 'mma';

/**
 * The matrix instruction of a target, or null when it has none kpack uses: AMD CDNA gfx908 / gfx90a /
 * gfx940..gfx942 / gfx950 -> 'mfma' (V_MFMA_F32_16X16X16F16, wave64); RDNA3 gfx11xx -> 'wmma'
 * (V_WMMA_F32_16X16X16_F16, wave32); NVIDIA sm_80 and newer -> 'mma' (PTX mma.sync m16n8k16, warp 32).
 * Others (gfx906, gfx10xx RDNA1/2, sm_70/75) have none: matmul.coopmat is pruned there.
 * @param target AMD arch name, with or without features ("gfx90a:sramecc+:xnack-"), or "sm_XY".
 */
export function hipMatrixInstruction(target: string): HipMatrixInstruction | null {
  const t = target.split(':')[0];
  const sm = /^sm_(\d+)a?$/.exec(t);
  if (sm) return Number(sm[1]) >= 80 ? 'mma' : null;
  if (/^gfx(908|90a|94[0-2]|950)$/.test(t)) return 'mfma';
  if (/^gfx11[0-9a-f]{2}$/.test(t)) return 'wmma';
  return null;
}

/** Wavefront size each matrix instruction's fragments are laid out for. */
export const MATRIX_WAVE: Readonly<Record<HipMatrixInstruction, number>> = { mfma: 64, wmma: 32, mma: 32 };

/**
 * Why a matrix-core kernel cannot run on `target` at wavefront size `wave`, or null when it can
 * (hipMatrixInstruction, and the wave its fragments need).
 */
export function matrixUnsupported(target: string, wave: number): string | null {
  const mi = hipMatrixInstruction(target);
  if (!mi) return `no half-precision matrix instruction on ${target}: MFMA needs gfx908/gfx90a/gfx94x/gfx950, WMMA gfx11, mma.sync sm_80+`;
  if (MATRIX_WAVE[mi] !== wave) return `matrix instruction ${mi} on ${target} needs wave${MATRIX_WAVE[mi]}, not wave${wave}`;
  return null;
}
