// hip_cuda_prelude.h: lets HIP device code compile under NVRTC (and nvcc) for NVIDIA GPUs.
//
// native/hip prepends this file to every source it compiles with NVRTC (followed by `#line 1`, so
// compiler messages point into the kernel's own source), with the options -default-device,
// --std=c++17, -DKPACK_NVRTC=1 and -DKPACK_WARP_SIZE=32. It holds no host code. Under hiprtc / hipcc
// (`__HIP__` defined) it is empty, so a template may include it unconditionally.
//
// What HIP code may rely on here, and how each name maps to CUDA:
//  - fixed-width integers (uint32_t, int64_t, size_t, ...): hiprtc predefines them, NVRTC has no
//    <stdint.h>; typedef'd here to the same types glibc uses, so a later <cstdint> agrees.
//  - __half / __half2 and their intrinsics: cuda_fp16.h (NVRTC ships it; native/hip also passes the
//    toolkit include dir when it finds one beside libnvrtc). __hip_bfloat16: cuda_bf16.h's __nv_bfloat16.
//  - warp shuffles without a mask (__shfl, __shfl_up, __shfl_down, __shfl_xor with an optional width
//    defaulting to warpSize): the *_sync forms over the full warp (mask 0xffffffff). HIP code calls
//    them from convergent code (all 32 lanes), which is what the full mask asserts on NVIDIA.
//  - warp votes __any, __all, __ballot (HIP's __ballot returns a 64-bit mask): *_sync over the full warp.
//  - __lane_id(): PTX %laneid.
//  - warpSize: CUDA's own built-in (32). KPACK_WARP_SIZE is the compile-time constant (32 here; the
//    device's wavefront size under hiprtc) for array sizes and unrolled loops.
//  - hipThreadIdx_x ... hipGridDim_z: the old HIP spellings of threadIdx.x ... gridDim.z.
//  - HIP_DYNAMIC_SHARED(type, name): `extern __shared__` array, 16-byte aligned; size it with the
//    launch's sharedBytes.
//  - __launch_bounds__(maxThreads[, min]), __global__, __device__, __shared__, __restrict__,
//    __forceinline__, __syncthreads(), atomics, __ldg, math intrinsics: the same names in both; they
//    pass through unchanged. (HIP's second __launch_bounds__ argument counts waves per EU, CUDA's
//    blocks per SM: both are hints and compile either way.)
//  - __builtin_expect: supported by NVRTC's front end; defined away only where __has_builtin says not.
//  - __HIP_PLATFORM_NVIDIA__ and __HIP_DEVICE_COMPILE__ are defined, as hipcc does for NVIDIA targets,
//    so `#ifdef __HIP_PLATFORM_AMD__` blocks (AMD builtins) drop out. __HIP__ stays undefined.
// Kernels looked up by name must be declared extern "C" (no C++ name mangling).
#ifndef KPACK_HIP_CUDA_PRELUDE_H
#define KPACK_HIP_CUDA_PRELUDE_H

#if defined(__CUDACC__) && !defined(__HIP__)

#ifndef __HIP_PLATFORM_NVIDIA__
#define __HIP_PLATFORM_NVIDIA__ 1
#endif
#ifndef __HIP_DEVICE_COMPILE__
#define __HIP_DEVICE_COMPILE__ 1
#endif
#ifndef KPACK_WARP_SIZE
#define KPACK_WARP_SIZE 32
#endif

// ---- fixed-width integers (LP64: 64-bit types are `long`, as in glibc's <stdint.h>)
template <bool B, class T, class F>
struct kpack_prelude_pick { typedef T type; };
template <class T, class F>
struct kpack_prelude_pick<false, T, F> { typedef F type; };
typedef signed char int8_t;
typedef unsigned char uint8_t;
typedef short int16_t;
typedef unsigned short uint16_t;
typedef int int32_t;
typedef unsigned int uint32_t;
typedef kpack_prelude_pick<sizeof(long) == 8, long, long long>::type int64_t;
typedef kpack_prelude_pick<sizeof(long) == 8, unsigned long, unsigned long long>::type uint64_t;
typedef decltype(sizeof(0)) size_t;
typedef decltype((char*)0 - (char*)0) ptrdiff_t;
typedef kpack_prelude_pick<sizeof(long) == sizeof(void*), long, long long>::type intptr_t;
typedef kpack_prelude_pick<sizeof(long) == sizeof(void*), unsigned long, unsigned long long>::type uintptr_t;

// ---- half and bfloat16
#if defined(__has_include)
#if __has_include(<cuda_fp16.h>)
#include <cuda_fp16.h>
#endif
#if __has_include(<cuda_bf16.h>)
#include <cuda_bf16.h>
typedef __nv_bfloat16 __hip_bfloat16;
typedef __nv_bfloat162 __hip_bfloat162;
#endif
#else
#include <cuda_fp16.h>
#endif

// ---- warp shuffles and votes. Macros (defined after cuda_fp16.h, whose deprecated mask-less
// overloads they must not rename) that route HIP's names to the templates below.
namespace kpack_hip {
constexpr unsigned kFullMask = 0xffffffffu;
template <typename T>
__device__ __forceinline__ T shfl(T var, int srcLane, int width = warpSize) {
  return __shfl_sync(kFullMask, var, srcLane, width);
}
template <typename T>
__device__ __forceinline__ T shfl_up(T var, unsigned int delta, int width = warpSize) {
  return __shfl_up_sync(kFullMask, var, delta, width);
}
template <typename T>
__device__ __forceinline__ T shfl_down(T var, unsigned int delta, int width = warpSize) {
  return __shfl_down_sync(kFullMask, var, delta, width);
}
template <typename T>
__device__ __forceinline__ T shfl_xor(T var, int laneMask, int width = warpSize) {
  return __shfl_xor_sync(kFullMask, var, laneMask, width);
}
__device__ __forceinline__ int any(int pred) { return __any_sync(kFullMask, pred); }
__device__ __forceinline__ int all(int pred) { return __all_sync(kFullMask, pred); }
__device__ __forceinline__ unsigned long long ballot(int pred) {
  return static_cast<unsigned long long>(__ballot_sync(kFullMask, pred));
}
__device__ __forceinline__ unsigned int lane_id() {
  unsigned int id;
  asm volatile("mov.u32 %0, %%laneid;" : "=r"(id));
  return id;
}
}  // namespace kpack_hip

#define __shfl(...) ::kpack_hip::shfl(__VA_ARGS__)
#define __shfl_up(...) ::kpack_hip::shfl_up(__VA_ARGS__)
#define __shfl_down(...) ::kpack_hip::shfl_down(__VA_ARGS__)
#define __shfl_xor(...) ::kpack_hip::shfl_xor(__VA_ARGS__)
#define __any(p) ::kpack_hip::any(p)
#define __all(p) ::kpack_hip::all(p)
#define __ballot(p) ::kpack_hip::ballot(p)
#define __lane_id() ::kpack_hip::lane_id()

// ---- old HIP index spellings
#define hipThreadIdx_x threadIdx.x
#define hipThreadIdx_y threadIdx.y
#define hipThreadIdx_z threadIdx.z
#define hipBlockIdx_x blockIdx.x
#define hipBlockIdx_y blockIdx.y
#define hipBlockIdx_z blockIdx.z
#define hipBlockDim_x blockDim.x
#define hipBlockDim_y blockDim.y
#define hipBlockDim_z blockDim.z
#define hipGridDim_x gridDim.x
#define hipGridDim_y gridDim.y
#define hipGridDim_z gridDim.z

// ---- dynamic shared memory
#define HIP_DYNAMIC_SHARED_ATTRIBUTE
#define HIP_DYNAMIC_SHARED(type, var) extern __shared__ __align__(16) type var[];

// ---- __builtin_expect
#if defined(__has_builtin)
#if !__has_builtin(__builtin_expect)
#define __builtin_expect(x, expected) (x)
#endif
#endif

#endif  // __CUDACC__ && !__HIP__
#endif  // KPACK_HIP_CUDA_PRELUDE_H
