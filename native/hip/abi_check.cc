// Compile-time check of the hand-written driver declarations against the vendors' headers. Not part of
// the addon build (which needs no CUDA or ROCm); test/hip-native.test.ts runs it where the headers exist:
//   c++ -std=c++17 -fsyntax-only -DKPACK_ABI_CUDA -I/usr/local/cuda/include native/hip/abi_check.cc
//   c++ -std=c++17 -fsyntax-only -DKPACK_ABI_HIP -D__HIP_PLATFORM_AMD__ -I/opt/rocm/include native/hip/abi_check.cc
// Each function pointer of CudaApi / NvrtcApi / HipApi / HiprtcApi must match the real prototype in
// arity and in each parameter's size, pointer-ness and floating-point-ness; each enum value we
// declare must equal the header's.
#include <type_traits>

#ifdef KPACK_ABI_CUDA
#include <cuda.h>
#endif
#ifdef KPACK_ABI_HIP
#include <hip/hip_runtime_api.h>
#include <hip/hiprtc.h>
#endif

template <class A, class B>
constexpr bool ArgSame() {
  return sizeof(A) == sizeof(B) && std::is_pointer<A>::value == std::is_pointer<B>::value &&
         std::is_floating_point<A>::value == std::is_floating_point<B>::value;
}
template <class A, class B>
struct AbiSame : std::false_type {};
template <class RA, class... A, class RB, class... B>
struct AbiSame<RA (*)(A...), RB (*)(B...)> {
  static constexpr bool Args() {
    if constexpr (sizeof...(A) != sizeof...(B)) return false;
    else return (true && ... && ArgSame<A, B>());
  }
  static constexpr bool value = ArgSame<RA, RB>() && Args();
};
#define KPACK_ABI(Struct, field, real) \
  static_assert(AbiSame<decltype(Struct{}.field), decltype(&::real)>::value, #real " does not match " #Struct "::" #field)
#define KPACK_ENUM(name, real) static_assert(static_cast<int>(name) == static_cast<int>(::real), #name)

#ifdef KPACK_ABI_CUDA
#include "cuda_driver.cc"
namespace kpack {
namespace hip {
namespace {
KPACK_ABI(CudaApi, cuInit, cuInit);
KPACK_ABI(CudaApi, cuDriverGetVersion, cuDriverGetVersion);
KPACK_ABI(CudaApi, cuGetErrorName, cuGetErrorName);
KPACK_ABI(CudaApi, cuGetErrorString, cuGetErrorString);
KPACK_ABI(CudaApi, cuDeviceGetCount, cuDeviceGetCount);
KPACK_ABI(CudaApi, cuDeviceGet, cuDeviceGet);
KPACK_ABI(CudaApi, cuDeviceGetName, cuDeviceGetName);
KPACK_ABI(CudaApi, cuDeviceGetAttribute, cuDeviceGetAttribute);
KPACK_ABI(CudaApi, cuDeviceTotalMem, cuDeviceTotalMem_v2);
KPACK_ABI(CudaApi, cuDevicePrimaryCtxRetain, cuDevicePrimaryCtxRetain);
KPACK_ABI(CudaApi, cuDevicePrimaryCtxRelease, cuDevicePrimaryCtxRelease_v2);
KPACK_ABI(CudaApi, cuCtxSetCurrent, cuCtxSetCurrent);
KPACK_ABI(CudaApi, cuStreamCreate, cuStreamCreate);
KPACK_ABI(CudaApi, cuStreamDestroy, cuStreamDestroy_v2);
KPACK_ABI(CudaApi, cuStreamSynchronize, cuStreamSynchronize);
KPACK_ABI(CudaApi, cuMemAlloc, cuMemAlloc_v2);
KPACK_ABI(CudaApi, cuMemFree, cuMemFree_v2);
KPACK_ABI(CudaApi, cuMemcpyHtoDAsync, cuMemcpyHtoDAsync_v2);
KPACK_ABI(CudaApi, cuMemcpyDtoHAsync, cuMemcpyDtoHAsync_v2);
KPACK_ABI(CudaApi, cuMemsetD32Async, cuMemsetD32Async);
KPACK_ABI(CudaApi, cuModuleLoadDataEx, cuModuleLoadDataEx);
KPACK_ABI(CudaApi, cuModuleUnload, cuModuleUnload);
KPACK_ABI(CudaApi, cuModuleGetFunction, cuModuleGetFunction);
KPACK_ABI(CudaApi, cuFuncGetAttribute, cuFuncGetAttribute);
KPACK_ABI(CudaApi, cuFuncSetAttribute, cuFuncSetAttribute);
KPACK_ABI(CudaApi, cuFuncGetParamInfo, cuFuncGetParamInfo);
KPACK_ABI(CudaApi, cuLaunchKernel, cuLaunchKernel);
KPACK_ABI(CudaApi, cuEventCreate, cuEventCreate);
KPACK_ABI(CudaApi, cuEventDestroy, cuEventDestroy_v2);
KPACK_ABI(CudaApi, cuEventRecord, cuEventRecord);
KPACK_ABI(CudaApi, cuEventSynchronize, cuEventSynchronize);
KPACK_ABI(CudaApi, cuEventElapsedTime, cuEventElapsedTime_v2);
KPACK_ENUM(CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK);
KPACK_ENUM(CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK);
KPACK_ENUM(CU_DEVICE_ATTRIBUTE_WARP_SIZE, CU_DEVICE_ATTRIBUTE_WARP_SIZE);
KPACK_ENUM(CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
KPACK_ENUM(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
KPACK_ENUM(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
KPACK_ENUM(CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN);
KPACK_ENUM(CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK);
KPACK_ENUM(CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES);
KPACK_ENUM(CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES, CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES);
KPACK_ENUM(CU_FUNC_ATTRIBUTE_NUM_REGS, CU_FUNC_ATTRIBUTE_NUM_REGS);
KPACK_ENUM(CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES);
KPACK_ENUM(CU_JIT_INFO_LOG_BUFFER, CU_JIT_INFO_LOG_BUFFER);
KPACK_ENUM(CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES, CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES);
KPACK_ENUM(CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER);
KPACK_ENUM(CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES);
KPACK_ENUM(CU_STREAM_NON_BLOCKING, CU_STREAM_NON_BLOCKING);
static_assert(sizeof(CUdeviceptr) == sizeof(::CUdeviceptr), "CUdeviceptr");
}  // namespace
}  // namespace hip
}  // namespace kpack
#endif

#ifdef KPACK_ABI_HIP
#include "hip_driver.cc"
namespace kpack {
namespace hip {
namespace {
KPACK_ABI(HipApi, hipInit, hipInit);
KPACK_ABI(HipApi, hipRuntimeGetVersion, hipRuntimeGetVersion);
KPACK_ABI(HipApi, hipGetErrorName, hipGetErrorName);
KPACK_ABI(HipApi, hipGetErrorString, hipGetErrorString);
KPACK_ABI(HipApi, hipGetDeviceCount, hipGetDeviceCount);
KPACK_ABI(HipApi, hipDeviceGet, hipDeviceGet);
KPACK_ABI(HipApi, hipDeviceGetName, hipDeviceGetName);
KPACK_ABI(HipApi, hipDeviceGetAttribute, hipDeviceGetAttribute);
KPACK_ABI(HipApi, hipDeviceTotalMem, hipDeviceTotalMem);
KPACK_ABI(HipApi, hipGetDeviceProperties, hipGetDeviceProperties);
KPACK_ABI(HipApi, hipSetDevice, hipSetDevice);
KPACK_ABI(HipApi, hipStreamCreateWithFlags, hipStreamCreateWithFlags);
KPACK_ABI(HipApi, hipStreamDestroy, hipStreamDestroy);
KPACK_ABI(HipApi, hipStreamSynchronize, hipStreamSynchronize);
KPACK_ABI(HipApi, hipFree, hipFree);
KPACK_ABI(HipApi, hipMemcpyHtoDAsync, hipMemcpyHtoDAsync);
KPACK_ABI(HipApi, hipMemcpyDtoHAsync, hipMemcpyDtoHAsync);
KPACK_ABI(HipApi, hipMemsetD32Async, hipMemsetD32Async);
KPACK_ABI(HipApi, hipModuleLoadData, hipModuleLoadData);
KPACK_ABI(HipApi, hipModuleUnload, hipModuleUnload);
KPACK_ABI(HipApi, hipModuleGetFunction, hipModuleGetFunction);
KPACK_ABI(HipApi, hipFuncGetAttribute, hipFuncGetAttribute);
KPACK_ABI(HipApi, hipModuleLaunchKernel, hipModuleLaunchKernel);
KPACK_ABI(HipApi, hipEventCreate, hipEventCreate);
KPACK_ABI(HipApi, hipEventDestroy, hipEventDestroy);
KPACK_ABI(HipApi, hipEventRecord, hipEventRecord);
KPACK_ABI(HipApi, hipEventSynchronize, hipEventSynchronize);
KPACK_ABI(HipApi, hipEventElapsedTime, hipEventElapsedTime);
KPACK_ABI(HiprtcApi, hiprtcVersion, hiprtcVersion);
KPACK_ABI(HiprtcApi, hiprtcGetErrorString, hiprtcGetErrorString);
KPACK_ABI(HiprtcApi, hiprtcCreateProgram, hiprtcCreateProgram);
KPACK_ABI(HiprtcApi, hiprtcDestroyProgram, hiprtcDestroyProgram);
KPACK_ABI(HiprtcApi, hiprtcCompileProgram, hiprtcCompileProgram);
KPACK_ABI(HiprtcApi, hiprtcGetProgramLogSize, hiprtcGetProgramLogSize);
KPACK_ABI(HiprtcApi, hiprtcGetProgramLog, hiprtcGetProgramLog);
KPACK_ABI(HiprtcApi, hiprtcGetCodeSize, hiprtcGetCodeSize);
KPACK_ABI(HiprtcApi, hiprtcGetCode, hiprtcGetCode);
KPACK_ENUM(hipDeviceAttributeComputeCapabilityMajor, hipDeviceAttributeComputeCapabilityMajor);
KPACK_ENUM(hipDeviceAttributeMaxThreadsPerBlock, hipDeviceAttributeMaxThreadsPerBlock);
KPACK_ENUM(hipDeviceAttributeComputeCapabilityMinor, hipDeviceAttributeComputeCapabilityMinor);
KPACK_ENUM(hipDeviceAttributeMultiprocessorCount, hipDeviceAttributeMultiprocessorCount);
KPACK_ENUM(hipDeviceAttributeMaxSharedMemoryPerBlock, hipDeviceAttributeMaxSharedMemoryPerBlock);
KPACK_ENUM(hipDeviceAttributeWarpSize, hipDeviceAttributeWarpSize);
KPACK_ENUM(HIP_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, HIP_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK);
KPACK_ENUM(HIP_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, HIP_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES);
KPACK_ENUM(HIP_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES, HIP_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES);
KPACK_ENUM(HIP_FUNC_ATTRIBUTE_NUM_REGS, HIP_FUNC_ATTRIBUTE_NUM_REGS);
static_assert(kHipStreamNonBlocking == hipStreamNonBlocking, "hipStreamNonBlocking");
}  // namespace
}  // namespace hip
}  // namespace kpack
#endif
