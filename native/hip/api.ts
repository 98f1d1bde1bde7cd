/**
 * The contract of the HIP / CUDA back-end (native/hip/*.cc, loaded by ./index.ts).
 *
 * One JS API over two vendors' driver APIs, both loaded at run time with dlopen (the addon links no
 * GPU library): NVIDIA through libcuda.so.1 + NVRTC, AMD through libamdhip64.so + hiprtc. Kernels are
 * HIP device code; on NVIDIA they compile through templates/partials/hip_cuda_prelude.h.
 *
 * Units: sizes and offsets in bytes, times in nanoseconds. Every driver or compiler failure is a JS
 * `Error` whose message names the call and the code, e.g.
 * "cuMemAlloc_v2 failed: CUDA_ERROR_OUT_OF_MEMORY (2: out of memory)", with the fields of
 * {@link DriverError}; compile failures carry the compiler log in the message and in `.log`. Bad
 * arguments are `TypeError`s, out-of-range sizes / offsets / launch shapes `RangeError`s, all thrown
 * before anything reaches the driver.
 */

/** The extra fields of an Error thrown by a failed driver or compiler call. */
export interface DriverError extends Error {
  /** 'cuda' | 'hip' | 'nvrtc' | 'hiprtc' */
  api: string;
  /** The C function that failed, e.g. 'cuLaunchKernel', 'nvrtcCompileProgram'. */
  call: string;
  /** Its numeric result (CUresult, hipError_t, nvrtcResult, hiprtcResult). */
  code: number;
  /** The driver's name for it, e.g. 'CUDA_ERROR_ILLEGAL_ADDRESS', 'NVRTC_ERROR_COMPILATION'. */
  codeName: string;
  /** The compiler or JIT log (compile / module-load failures only). */
  log?: string;
}

/** Whether something is usable, and why not. */
export interface Status {
  ok: boolean;
  /** Why not (library missing, init failed, no device), or a short summary when ok. */
  reason: string;
}

/** available(): the back-end as a whole (ok: at least one device), and each provider and compiler. */
export interface Availability extends Status {
  cuda: Status;
  hip: Status;
  nvrtc: Status;
  hiprtc: Status;
}

/** One CUDA or HIP device. */
export interface HipDeviceInfo {
  /** Index into listDevices() (CUDA devices first, then HIP ones; see KPACK_HIP_PROVIDERS). */
  index: number;
  api: 'cuda' | 'hip';
  /** The vendor's own device ordinal. */
  ordinal: number;
  name: string;
  /** 'sm_90' (NVIDIA, from the compute capability) | 'gfx90a' (AMD, features stripped). */
  arch: string;
  /** AMD: gcnArchName with features ('gfx90a:sramecc+:xnack-'), what hiprtc compiles for; NVIDIA: = arch. */
  archFull: string;
  /** [major, minor] compute capability (AMD: what HIP reports). */
  computeCapability: [number, number];
  /** Threads per warp / wavefront: 32 on NVIDIA, 64 (CDNA/GCN) or 32 (RDNA) on AMD. */
  warpSize: number;
  /** Streaming multiprocessors / compute units. */
  multiprocessorCount: number;
  maxThreadsPerBlock: number;
  /** Shared memory (LDS) per block without opt-in, bytes (48 KiB on NVIDIA). */
  sharedMemPerBlock: number;
  /** Shared memory per block with the opt-in attribute (227 KiB on an H100/H200), bytes; launch() opts in as needed. */
  sharedMemPerBlockOptin: number;
  /** Device memory, bytes. */
  totalMem: number;
  /** CUDA driver API version ('13.0') or HIP runtime version ('6.2'). */
  driverVersion: string;
}

/** compile() options. */
export interface CompileOptions {
  /** Source name in compiler messages (default 'kernel.cu' / 'kernel.hip'). */
  name?: string;
  /** -D NAME=value for each entry (booleans as 1 / 0). */
  defines?: Record<string, number | boolean | string>;
  /** Extra compiler options, after the back-end's own (e.g. ['-use_fast_math'], ['-O3']). */
  options?: string[];
  /** In-memory headers for #include "name", name -> text. */
  headers?: Record<string, string>;
}

/** Offline compile() options: the target, with no device needed. */
export interface OfflineCompileOptions extends CompileOptions {
  api: 'cuda' | 'hip';
  /** 'sm_90' for NVRTC; 'gfx90a' or 'gfx90a:sramecc+:xnack-' for hiprtc. */
  arch: string;
  /** KPACK_WARP_SIZE (default 32, or 64 for gfx9*). */
  warpSize?: number;
}

/** What a compile produced. */
export interface CompileResult {
  /** cubin, PTX text (NVRTC older than the device: the driver JITs it) or an AMD code object (ELF). */
  binary: Uint8Array;
  format: 'cubin' | 'ptx' | 'hsaco';
  /** Compiler warnings ('' when none). */
  log: string;
  /** The options passed to the compiler, the arch option first. */
  options: string[];
}

export interface GpuBuffer {
  /** Bytes. */
  readonly size: number;
  /** Free the device memory now (after the launches in flight); later use throws. */
  destroy(): void;
}

/** Attributes of a loaded kernel. */
export interface KernelInfo {
  /** The largest block this kernel can launch with (registers, __launch_bounds__). */
  maxThreadsPerBlock: number;
  registers: number;
  staticSharedBytes: number;
  /** Local (spill) memory per thread, bytes. */
  localBytes: number;
  /** Byte size of each parameter (CUDA 12.4+ drivers); launch() checks args against it. */
  paramSizes?: number[];
}

export interface KernelFunction {
  readonly name: string;
  readonly info: KernelInfo;
}

export interface Module {
  /** Compiler warnings of compile() ('' for loadModule()). */
  readonly log: string;
  /** 'cubin' | 'ptx' | 'hsaco' from compile(), 'binary' from loadModule(). */
  readonly format: string;
  /** The kernel `name` (declare kernels extern "C"). @throws Error "cuModuleGetFunction failed: CUDA_ERROR_NOT_FOUND ..." */
  fn(name: string): KernelFunction;
  /** Unload the module (after the launches in flight); its functions can no longer be launched. */
  destroy(): void;
}

/**
 * A kernel argument: a buffer's device address (plus a byte offset), or a scalar of the kernel
 * parameter's type. u64 takes a number up to 2^53 or a BigInt.
 */
export type KernelArg =
  | { buffer: GpuBuffer; offset?: number }
  | { u32: number }
  | { i32: number }
  | { f32: number }
  | { u64: number | bigint }
  | { f64: number };

/**
 * One device's context (the CUDA primary context / the HIP device) and one stream. Launches and fills
 * are enqueued on the stream in order; upload / download / time / timestamps / synchronize block.
 */
export interface HipContext {
  readonly device: HipDeviceInfo;
  /** Device memory of `bytes` bytes (contents undefined). */
  createBuffer(bytes: number): GpuBuffer;
  /** Copy host data into `buffer` at byte `offset`; blocks until done (after the work already enqueued). */
  upload(buffer: GpuBuffer, data: ArrayBufferView | ArrayBuffer, offset?: number): void;
  /** Copy `bytes` bytes at byte `offset` of `buffer` to the host; blocks until done (after the enqueued work). */
  download(buffer: GpuBuffer, offset: number, bytes: number): ArrayBuffer;
  /** Enqueue a fill of `bytes` bytes (default: to the end) at `offset` with a 32-bit pattern; multiples of 4. */
  fill(buffer: GpuBuffer, value: number, offset?: number, bytes?: number): void;
  /**
   * Compile HIP source for this device and load it: NVRTC on NVIDIA (the prelude prepended,
   * -default-device --std=c++17 -DKPACK_NVRTC=1), hiprtc on AMD (-DKPACK_HIPRTC=1); both get
   * -DKPACK_WARP_SIZE=<warpSize>. @throws Error with the compiler log (`.log`) on a compile error,
   * Error "NVRTC unavailable: ..." when the compiler library is missing.
   */
  compile(source: string, options?: CompileOptions): Module;
  /** Load a cubin / PTX / fatbin (NVIDIA) or a code object / offload bundle (AMD, e.g. `kpack generate --backend hip`). */
  loadModule(image: ArrayBufferView | ArrayBuffer): Module;
  /**
   * Enqueue fn over grid x block threads with `args` in the kernel's parameter order and `sharedBytes`
   * of dynamic shared memory (default 0; above 48 KiB the NVIDIA opt-in is set). A fault inside the
   * kernel surfaces at the next blocking call. @throws RangeError for a block larger than the kernel's
   * maxThreadsPerBlock or too much shared memory, TypeError for args that do not match its parameters.
   */
  launch(fn: KernelFunction, grid: [number, number, number], block: [number, number, number], args: KernelArg[], sharedBytes?: number): void;
  /** Launch `reps` times back to back between two events; ns per launch (event resolution about 0.5 us). Blocks. */
  time(fn: KernelFunction, grid: [number, number, number], block: [number, number, number], args: KernelArg[], reps: number, sharedBytes?: number): number;
  /** Record an event in stream order (like Sequence.timestamp() of the Vulkan back-end); its index in this round. */
  timestamp(): number;
  /** Wait for the last timestamp; ns of each since the first of the round (the first is 0); starts a new round. */
  timestamps(): Float64Array;
  /** Wait for everything enqueued. @throws Error naming a kernel fault (e.g. CUDA_ERROR_ILLEGAL_ADDRESS). */
  synchronize(): void;
  /** Synchronize, free every buffer and module of the context, release the context. Idempotent. */
  destroy(): void;
}

/** The HIP / CUDA back-end (./index.ts's `hip`). */
export interface HipBackend {
  /** Which drivers, compilers and devices are usable; never throws. */
  available(): Availability;
  /** @throws Error "HIP back-end unavailable: cuda: ...; hip: ..." when there is no device. */
  listDevices(): HipDeviceInfo[];
  /** @throws Error when unavailable, RangeError for a bad index. */
  createContext(deviceIndex: number): HipContext;
  /** Compile without a device (NVRTC / hiprtc only). @throws as HipContext.compile. */
  compile(source: string, options: OfflineCompileOptions): CompileResult;
}
