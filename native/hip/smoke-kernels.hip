// Kernels the HIP back-end's tests (test/hip-native.test.ts) and native/hip/smoke.js run: plain HIP
// device code, compiled with hiprtc on AMD and with NVRTC through templates/partials/hip_cuda_prelude.h
// on NVIDIA. Integer / exactly representable data, so results are checked exactly.
#include <hip/hip_runtime.h>
#include <hip/hip_fp16.h>

// c[i] = a[i] + b[i] for i < n.
extern "C" __global__ void vadd(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ c,
                                uint32_t n) {
  uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) c[i] = a[i] + b[i];
}

// out[g] = sum of in[32g .. 32g+31] (zero past n), by a butterfly of __shfl_xor with width 32, so
// the result is the same on 32-lane warps and 64-lane wavefronts. Launch with blockDim.x % 32 == 0.
extern "C" __global__ void __launch_bounds__(256) warp_sum(const uint32_t* in, uint32_t* out, uint32_t n) {
  uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  uint32_t v = i < n ? in[i] : 0u;
#pragma unroll
  for (int m = 16; m >= 1; m >>= 1) v += __shfl_xor(v, m, 32);
  if ((threadIdx.x & 31u) == 0 && i < n) out[i / 32u] = v;
}

// y[i] = float(half(x[i]) * half(2)): exact for small integers.
extern "C" __global__ void half_double(const float* x, float* y, uint32_t n) {
  uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = __half2float(__hmul(__float2half(x[i]), __float2half(2.0f)));
}

// Dynamic shared memory: out[blockIdx.x * blockDim.x + t] = in[... + blockDim.x - 1 - t] (reverse each block).
extern "C" __global__ void block_reverse(const uint32_t* in, uint32_t* out) {
  extern __shared__ uint32_t tile[];
  uint32_t base = blockIdx.x * blockDim.x;
  tile[threadIdx.x] = in[base + threadIdx.x];
  __syncthreads();
  out[base + threadIdx.x] = tile[blockDim.x - 1 - threadIdx.x];
}
