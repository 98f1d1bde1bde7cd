/**
 * The contract of the Vulkan back-end (native/vulkan/*.cc, loaded by ./index.ts).
 *
 * Everything here is plain data or an opaque handle; every Vulkan failure surfaces as a JS `Error`
 * whose message names the Vulkan call and the VkResult (e.g. "vkCreateComputePipelines failed: VK_ERROR_OUT_OF_DEVICE_MEMORY").
 */

/** One cooperative-matrix shape from vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR. */
export interface CoopmatShape {
  M: number;
  N: number;
  K: number;
  /** Component types as GLSL names: 'f16' | 'f32' | 'bf16' | 'i8' | 'u8' | 'i32' | 'u32' | 'other'. */
  aType: string;
  bType: string;
  cType: string;
  resultType: string;
  /** 'subgroup' | 'workgroup' | 'device' | 'queuefamily' */
  scope: string;
}

export interface MemoryHeap {
  /** Heap size in bytes. */
  size: number;
  deviceLocal: boolean;
}

/** What a physical device reports; the fingerprint used by packs is derived from it. */
export interface DeviceInfo {
  index: number;
  name: string;
  vendorId: number;
  deviceId: number;
  /** 'discrete' | 'integrated' | 'virtual' | 'cpu' | 'other' */
  deviceType: string;
  driverName: string;
  driverInfo: string;
  /** Raw driverVersion as reported (vendor-specific encoding). */
  driverVersion: number;
  /** "major.minor.patch" of the device's Vulkan API version. */
  apiVersion: string;
  subgroupSize: number;
  /** maxComputeSharedMemorySize, bytes. */
  maxSharedMemoryBytes: number;
  maxWorkgroupInvocations: number;
  maxWorkgroupSize: [number, number, number];
  maxWorkgroupCount: [number, number, number];
  maxPushConstantsBytes: number;
  maxStorageBufferRange: number;
  /** Nanoseconds per timestamp tick. */
  timestampPeriod: number;
  /** Whether the compute queue supports timestamps (timestampValidBits > 0). */
  timestamps: boolean;
  memoryHeaps: MemoryHeap[];
  /** Empty when VK_KHR_cooperative_matrix is absent. */
  coopmatShapes: CoopmatShape[];
  /** Device extensions and features kernels care about. */
  features: {
    shaderFloat16: boolean;
    storageBuffer16BitAccess: boolean;
    shaderInt8: boolean;
    storageBuffer8BitAccess: boolean;
    integerDotProduct: boolean;
    /** VK_EXT_shader_atomic_float's shaderBufferFloat32AtomicAdd (atomicAdd on f32 in storage buffers). */
    atomicFloatAdd: boolean;
    coopmat: boolean;
    coopmat2: boolean;
    subgroupArithmetic: boolean;
    pushDescriptor: boolean;
  };
  /** Number of streaming multiprocessors / compute units where the driver says (NV/AMD shader core properties), else 0. */
  multiprocessorCount: number;
}

export type SpecConstantType = 'u32' | 'i32' | 'f32' | 'bool';
export interface SpecConstant {
  id: number;
  value: number;
  type: SpecConstantType;
}

export interface PipelineDesc {
  /** SPIR-V words as bytes (length a multiple of 4). */
  spirv: Uint8Array;
  /** Entry point, default "main". */
  entry?: string;
  specConstants: SpecConstant[];
  /** Size of the push-constant block in bytes (0 if none). */
  pushConstantBytes: number;
  /** Number of storage-buffer bindings in descriptor set 0 (bindings 0..n-1). */
  bindingCount: number;
  /** Optional required subgroup size (VK_EXT_subgroup_size_control); 0 = driver's choice. */
  requiredSubgroupSize?: number;
}

/** A buffer binding for a dispatch: buffer handle, byte offset, byte range (0 = to the end). */
export interface Binding {
  buffer: GpuBuffer;
  offset?: number;
  range?: number;
}

export interface GpuBuffer {
  readonly size: number;
  /**
   * Copy `bytes` bytes at `offset` out of a host-visible buffer's mapping (valid once the submit that
   * wrote it has returned). @throws Error for a device-local buffer.
   */
  read(offset: number, bytes: number): ArrayBuffer;
  /**
   * Copy `data` into a host-visible buffer's mapping at byte `offset`; a later submit reads it.
   * Do not write while a submit that reads the buffer is in flight. @throws Error for a device-local buffer,
   * RangeError past the end.
   */
  write(offset: number, data: ArrayBufferView): void;
  destroy(): void;
}

export interface Pipeline {
  destroy(): void;
}

/**
 * A recorded sequence of dispatches with barriers, submitted as one command buffer.
 * Record with dispatch/barrier/timestamp, then submit(); reset() to record again.
 */
export interface Sequence {
  /** Record a dispatch. `push` is the raw push-constant bytes (length must equal the pipeline's pushConstantBytes). */
  dispatch(pipeline: Pipeline, bindings: Binding[], push: Uint8Array | null, groups: [number, number, number]): void;
  /**
   * Memory barrier: every write recorded before it is visible to the commands recorded after it. Recorded
   * lazily at the next dispatch / copy / fill / update, from the stages used since the previous barrier
   * (compute and/or transfer) to that command's stage, so a dispatch -> dispatch barrier names only the
   * compute stage. KPACK_VK_BARRIER=full makes every barrier cover compute and transfer on both sides.
   */
  barrier(): void;
  /** Write a timestamp; returns its index in this recording. Throws if the queue has no timestamps. */
  timestamp(): number;
  /** Record a buffer fill with a 32-bit pattern (vkCmdFillBuffer); offset/size in bytes, multiples of 4. */
  fill(buffer: GpuBuffer, value: number, offset?: number, size?: number): void;
  /**
   * Record a small host-to-buffer write (vkCmdUpdateBuffer): `data` is copied into the command buffer
   * when recorded, so it lands in order with the dispatches around it. 1 to 65536 bytes, offset and
   * size multiples of 4.
   */
  update(buffer: GpuBuffer, data: ArrayBufferView, offset?: number): void;
  /** Record a buffer-to-buffer copy. */
  copy(src: GpuBuffer, dst: GpuBuffer, bytes: number, srcOffset?: number, dstOffset?: number): void;
  /** End recording (if needed), submit, and wait for completion. */
  submit(): void;
  /** Timestamps of the last submission in nanoseconds, relative to the first timestamp. */
  timestamps(): Float64Array;
  /** Forget the recording so the sequence can be recorded again. */
  reset(): void;
  destroy(): void;
}

export interface Context {
  readonly device: DeviceInfo;
  /**
   * Storage buffer of `bytes` bytes (contents undefined): device-local, or with `hostVisible` in
   * host-visible memory mapped for read() (for small results read back every step).
   */
  createBuffer(bytes: number, options?: { hostVisible?: boolean }): GpuBuffer;
  /** Copy host data into a buffer at `offset` bytes through a staging buffer; blocks until done. */
  upload(buffer: GpuBuffer, data: ArrayBufferView, offset?: number): void;
  /** Copy `bytes` bytes from `offset` of a buffer to host memory; blocks until done. */
  download(buffer: GpuBuffer, offset: number, bytes: number): ArrayBuffer;
  createPipeline(desc: PipelineDesc): Pipeline;
  createSequence(): Sequence;
  /** Write the VkPipelineCache to the path given at creation (no-op without one). */
  savePipelineCache(): void;
  /** Destroy every object the context still owns, then the device. */
  destroy(): void;
}

export interface ContextOptions {
  /** File for the VkPipelineCache (loaded if present and valid, written by savePipelineCache). */
  pipelineCachePath?: string;
}

export interface VulkanBackend {
  listDevices(): DeviceInfo[];
  createContext(deviceIndex: number, options?: ContextOptions): Context;
}
