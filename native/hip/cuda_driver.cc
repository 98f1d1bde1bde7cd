// NVIDIA provider: the CUDA driver API from libcuda.so.1 and NVRTC from libnvrtc.so, both by dlopen.
//
// Types and prototypes are declared here from cuda.h (CUDA 13.0) so nothing CUDA is needed at build
// time. Where cuda.h #defines a versioned name (cuMemAlloc -> cuMemAlloc_v2, cuEventElapsedTime ->
// cuEventElapsedTime_v2 ...), the versioned symbol is looked up, with the older one as a fallback only
// where its ABI is the same (cuEventElapsedTime, cuDevicePrimaryCtxRelease). abi_check.cc compiles
// these declarations against the real headers.
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "driver.h"

namespace kpack {
namespace hip {
namespace {

// ---------------------------------------------------------------- CUDA driver API (cuda.h)
typedef int CUresult;  // enum cudaError_enum; CUDA_SUCCESS = 0
typedef int CUdevice;
typedef struct CUctx_st* CUcontext;
typedef struct CUmod_st* CUmodule;
typedef struct CUfunc_st* CUfunction;
typedef struct CUstream_st* CUstream;
typedef struct CUevent_st* CUevent;
typedef unsigned long long CUdeviceptr;  // CUdeviceptr_v2
typedef int CUjit_option;

enum : int {
  CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 1,
  CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK = 8,
  CU_DEVICE_ATTRIBUTE_WARP_SIZE = 10,
  CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16,
  CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75,
  CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76,
  CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97,
};
enum : int {
  CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 0,
  CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES = 1,
  CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES = 3,
  CU_FUNC_ATTRIBUTE_NUM_REGS = 4,
  CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8,
};
enum : int { CU_JIT_INFO_LOG_BUFFER = 3, CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES = 4, CU_JIT_ERROR_LOG_BUFFER = 5,
             CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6 };
enum : unsigned { CU_STREAM_NON_BLOCKING = 1, CU_EVENT_DEFAULT = 0 };
const int kDefaultSharedPerBlock = 48 * 1024;

struct CudaApi {
  CUresult (*cuInit)(unsigned);
  CUresult (*cuDriverGetVersion)(int*);
  CUresult (*cuGetErrorName)(CUresult, const char**);
  CUresult (*cuGetErrorString)(CUresult, const char**);
  CUresult (*cuDeviceGetCount)(int*);
  CUresult (*cuDeviceGet)(CUdevice*, int);
  CUresult (*cuDeviceGetName)(char*, int, CUdevice);
  CUresult (*cuDeviceGetAttribute)(int*, int, CUdevice);
  CUresult (*cuDeviceTotalMem)(size_t*, CUdevice);  // cuDeviceTotalMem_v2
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext*, CUdevice);
  CUresult (*cuDevicePrimaryCtxRelease)(CUdevice);  // _v2
  CUresult (*cuCtxSetCurrent)(CUcontext);
  CUresult (*cuStreamCreate)(CUstream*, unsigned);
  CUresult (*cuStreamDestroy)(CUstream);  // _v2
  CUresult (*cuStreamSynchronize)(CUstream);
  CUresult (*cuMemAlloc)(CUdeviceptr*, size_t);  // _v2
  CUresult (*cuMemFree)(CUdeviceptr);            // _v2
  CUresult (*cuMemcpyHtoDAsync)(CUdeviceptr, const void*, size_t, CUstream);  // _v2
  CUresult (*cuMemcpyDtoHAsync)(void*, CUdeviceptr, size_t, CUstream);        // _v2
  CUresult (*cuMemsetD32Async)(CUdeviceptr, unsigned, size_t, CUstream);
  CUresult (*cuModuleLoadDataEx)(CUmodule*, const void*, unsigned, CUjit_option*, void**);
  CUresult (*cuModuleUnload)(CUmodule);
  CUresult (*cuModuleGetFunction)(CUfunction*, CUmodule, const char*);
  CUresult (*cuFuncGetAttribute)(int*, int, CUfunction);
  CUresult (*cuFuncSetAttribute)(CUfunction, int, int);
  CUresult (*cuFuncGetParamInfo)(CUfunction, size_t, size_t*, size_t*);  // optional (12.4+)
  CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                             CUstream, void**, void**);
  CUresult (*cuEventCreate)(CUevent*, unsigned);
  CUresult (*cuEventDestroy)(CUevent);  // _v2
  CUresult (*cuEventRecord)(CUevent, CUstream);
  CUresult (*cuEventSynchronize)(CUevent);
  CUresult (*cuEventElapsedTime)(float*, CUevent, CUevent);  // _v2 (12.8+), else the original
};

class CudaDriver : public Driver {
 public:
  CudaApi a{};
  Library lib;

  const char* Api() const override { return "cuda"; }

  void Check(CUresult r, const char* call) const {
    if (r == 0) return;
    const char* name = nullptr;
    const char* text = nullptr;
    if (a.cuGetErrorName) a.cuGetErrorName(r, &name);
    if (a.cuGetErrorString) a.cuGetErrorString(r, &text);
    throw DriverError("cuda", call, r, name ? name : "CUresult(" + std::to_string(r) + ")", text ? text : "");
  }

  int DeviceCount() override {
    int n = 0;
    Check(a.cuDeviceGetCount(&n), "cuDeviceGetCount");
    return n;
  }

  CUdevice Dev(int ordinal) const {
    CUdevice d = 0;
    Check(a.cuDeviceGet(&d, ordinal), "cuDeviceGet");
    return d;
  }

  int Attr(CUdevice d, int attr) const {
    int v = 0;
    Check(a.cuDeviceGetAttribute(&v, attr, d), "cuDeviceGetAttribute");
    return v;
  }

  DeviceProps Props(int ordinal) override {
    CUdevice d = Dev(ordinal);
    DeviceProps p;
    p.api = "cuda";
    p.ordinal = ordinal;
    char name[256] = {0};
    Check(a.cuDeviceGetName(name, sizeof(name) - 1, d), "cuDeviceGetName");
    p.name = name;
    p.ccMajor = Attr(d, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
    p.ccMinor = Attr(d, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
    p.arch = "sm_" + std::to_string(p.ccMajor * 10 + p.ccMinor);
    p.archFull = p.arch;
    p.warpSize = Attr(d, CU_DEVICE_ATTRIBUTE_WARP_SIZE);
    p.multiprocessorCount = Attr(d, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
    p.maxThreadsPerBlock = Attr(d, CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK);
    p.sharedMemPerBlock = static_cast<uint64_t>(Attr(d, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK));
    p.sharedMemPerBlockOptin = static_cast<uint64_t>(Attr(d, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN));
    if (p.sharedMemPerBlockOptin < p.sharedMemPerBlock) p.sharedMemPerBlockOptin = p.sharedMemPerBlock;
    size_t total = 0;
    Check(a.cuDeviceTotalMem(&total, d), "cuDeviceTotalMem_v2");
    p.totalMem = total;
    int v = 0;
    if (a.cuDriverGetVersion && a.cuDriverGetVersion(&v) == 0)
      p.driverVersion = std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
    return p;
  }

  Handle Open(int ordinal) override {
    CUcontext ctx = nullptr;
    Check(a.cuDevicePrimaryCtxRetain(&ctx, Dev(ordinal)), "cuDevicePrimaryCtxRetain");
    Check(a.cuCtxSetCurrent(ctx), "cuCtxSetCurrent");
    return ctx;
  }
  void Close(int ordinal, Handle) override {
    a.cuCtxSetCurrent(nullptr);
    Check(a.cuDevicePrimaryCtxRelease(Dev(ordinal)), "cuDevicePrimaryCtxRelease_v2");
  }
  // Always set: other code in the process (a CUDA llama.cpp peer) may have changed the current context.
  void MakeCurrent(int, Handle ctx) override { Check(a.cuCtxSetCurrent(static_cast<CUcontext>(ctx)), "cuCtxSetCurrent"); }

  Handle StreamCreate() override {
    CUstream s = nullptr;
    Check(a.cuStreamCreate(&s, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
    return s;
  }
  void StreamDestroy(Handle s) override { Check(a.cuStreamDestroy(static_cast<CUstream>(s)), "cuStreamDestroy_v2"); }
  void StreamSync(Handle s) override { Check(a.cuStreamSynchronize(static_cast<CUstream>(s)), "cuStreamSynchronize"); }

  DevPtr Alloc(size_t bytes) override {
    CUdeviceptr p = 0;
    Check(a.cuMemAlloc(&p, bytes), "cuMemAlloc_v2");
    return p;
  }
  void Free(DevPtr p) override { Check(a.cuMemFree(p), "cuMemFree_v2"); }
  void CopyHtoD(DevPtr dst, const void* src, size_t bytes, Handle s) override {
    Check(a.cuMemcpyHtoDAsync(dst, src, bytes, static_cast<CUstream>(s)), "cuMemcpyHtoDAsync_v2");
  }
  void CopyDtoH(void* dst, DevPtr src, size_t bytes, Handle s) override {
    Check(a.cuMemcpyDtoHAsync(dst, src, bytes, static_cast<CUstream>(s)), "cuMemcpyDtoHAsync_v2");
  }
  void Fill32(DevPtr dst, uint32_t value, size_t count, Handle s) override {
    Check(a.cuMemsetD32Async(dst, value, count, static_cast<CUstream>(s)), "cuMemsetD32Async");
  }

  Handle ModuleLoad(const std::vector<uint8_t>& image) override {
    // PTX needs a terminating NUL; harmless after a cubin / fatbin.
    std::vector<uint8_t> img(image);
    img.push_back(0);
    std::vector<char> errLog(16384, 0), infoLog(4096, 0);
    CUjit_option opts[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES, CU_JIT_INFO_LOG_BUFFER,
                           CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES};
    void* vals[] = {errLog.data(), reinterpret_cast<void*>(static_cast<uintptr_t>(errLog.size() - 1)), infoLog.data(),
                    reinterpret_cast<void*>(static_cast<uintptr_t>(infoLog.size() - 1))};
    CUmodule m = nullptr;
    CUresult r = a.cuModuleLoadDataEx(&m, img.data(), 4, opts, vals);
    if (r != 0) {
      try {
        Check(r, "cuModuleLoadDataEx");
      } catch (DriverError& e) {
        std::string log(errLog.data());
        if (log.empty()) throw;
        throw DriverError(e.api, e.call, e.code, e.codeName, "", log);
      }
    }
    return m;
  }
  void ModuleUnload(Handle m) override { Check(a.cuModuleUnload(static_cast<CUmodule>(m)), "cuModuleUnload"); }
  Handle FunctionGet(Handle m, const std::string& name) override {
    CUfunction f = nullptr;
    CUresult r = a.cuModuleGetFunction(&f, static_cast<CUmodule>(m), name.c_str());
    if (r != 0) {
      try {
        Check(r, "cuModuleGetFunction");
      } catch (DriverError& e) {
        throw DriverError(e.api, e.call, e.code, e.codeName,
                          "no kernel named '" + name + "' (declare it extern \"C\" __global__)");
      }
    }
    return f;
  }
  FunctionInfo FunctionQuery(Handle fh) override {
    CUfunction f = static_cast<CUfunction>(fh);
    FunctionInfo fi;
    Check(a.cuFuncGetAttribute(&fi.maxThreadsPerBlock, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, f), "cuFuncGetAttribute");
    Check(a.cuFuncGetAttribute(&fi.registers, CU_FUNC_ATTRIBUTE_NUM_REGS, f), "cuFuncGetAttribute");
    Check(a.cuFuncGetAttribute(&fi.staticSharedBytes, CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, f), "cuFuncGetAttribute");
    Check(a.cuFuncGetAttribute(&fi.localBytes, CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES, f), "cuFuncGetAttribute");
    if (a.cuFuncGetParamInfo) {
      fi.paramsKnown = true;
      for (size_t i = 0; i < 4096; i++) {
        size_t off = 0, size = 0;
        if (a.cuFuncGetParamInfo(f, i, &off, &size) != 0) break;  // CUDA_ERROR_INVALID_VALUE past the last one
        fi.paramSizes.push_back(size);
      }
    }
    return fi;
  }
  void FunctionSetMaxDynamicShared(Handle f, int bytes) override {
    if (bytes <= kDefaultSharedPerBlock) return;
    Check(a.cuFuncSetAttribute(static_cast<CUfunction>(f), CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes),
          "cuFuncSetAttribute(CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES)");
  }
  void Launch(Handle f, const unsigned g[3], const unsigned b[3], unsigned shared, Handle s, void** args) override {
    Check(a.cuLaunchKernel(static_cast<CUfunction>(f), g[0], g[1], g[2], b[0], b[1], b[2], shared,
                           static_cast<CUstream>(s), args, nullptr),
          "cuLaunchKernel");
  }

  Handle EventCreate() override {
    CUevent e = nullptr;
    Check(a.cuEventCreate(&e, CU_EVENT_DEFAULT), "cuEventCreate");
    return e;
  }
  void EventDestroy(Handle e) override { Check(a.cuEventDestroy(static_cast<CUevent>(e)), "cuEventDestroy_v2"); }
  void EventRecord(Handle e, Handle s) override {
    Check(a.cuEventRecord(static_cast<CUevent>(e), static_cast<CUstream>(s)), "cuEventRecord");
  }
  void EventSync(Handle e) override { Check(a.cuEventSynchronize(static_cast<CUevent>(e)), "cuEventSynchronize"); }
  float EventElapsedMs(Handle s, Handle e) override {
    float ms = 0;
    Check(a.cuEventElapsedTime(&ms, static_cast<CUevent>(s), static_cast<CUevent>(e)), "cuEventElapsedTime");
    return ms;
  }
};

// ---------------------------------------------------------------- NVRTC (nvrtc.h)
typedef int nvrtcResult;  // NVRTC_SUCCESS = 0
typedef struct _nvrtcProgram* nvrtcProgram;

struct NvrtcApi {
  nvrtcResult (*nvrtcVersion)(int*, int*);
  const char* (*nvrtcGetErrorString)(nvrtcResult);
  nvrtcResult (*nvrtcGetNumSupportedArchs)(int*);  // optional (11.2+)
  nvrtcResult (*nvrtcGetSupportedArchs)(int*);     // optional (11.2+)
  nvrtcResult (*nvrtcCreateProgram)(nvrtcProgram*, const char*, const char*, int, const char* const*,
                                    const char* const*);
  nvrtcResult (*nvrtcDestroyProgram)(nvrtcProgram*);
  nvrtcResult (*nvrtcCompileProgram)(nvrtcProgram, int, const char* const*);
  nvrtcResult (*nvrtcGetProgramLogSize)(nvrtcProgram, size_t*);
  nvrtcResult (*nvrtcGetProgramLog)(nvrtcProgram, char*);
  nvrtcResult (*nvrtcGetPTXSize)(nvrtcProgram, size_t*);
  nvrtcResult (*nvrtcGetPTX)(nvrtcProgram, char*);
  nvrtcResult (*nvrtcGetCUBINSize)(nvrtcProgram, size_t*);  // optional (11.1+)
  nvrtcResult (*nvrtcGetCUBIN)(nvrtcProgram, char*);        // optional (11.1+)
};

class Nvrtc : public Compiler {
 public:
  NvrtcApi a{};
  Library lib;
  std::string includeDir;  // the toolkit include dir beside libnvrtc holding cuda_fp16.h, if any

  const char* Api() const override { return "nvrtc"; }
  std::string Version() override {
    int maj = 0, min = 0;
    a.nvrtcVersion(&maj, &min);
    return std::to_string(maj) + "." + std::to_string(min);
  }

  void Check(nvrtcResult r, const char* call, const std::string& log = "") const {
    if (r == 0) return;
    const char* s = a.nvrtcGetErrorString ? a.nvrtcGetErrorString(r) : nullptr;
    throw DriverError("nvrtc", call, r, s ? s : "nvrtcResult(" + std::to_string(r) + ")", "", log);
  }

  std::vector<int> SupportedArchs() const {
    std::vector<int> out;
    int n = 0;
    if (!a.nvrtcGetNumSupportedArchs || !a.nvrtcGetSupportedArchs || a.nvrtcGetNumSupportedArchs(&n) != 0 || n <= 0)
      return out;
    out.resize(n);
    if (a.nvrtcGetSupportedArchs(out.data()) != 0) out.clear();
    return out;
  }

  CompileResult Compile(const std::string& source, const std::string& name, const std::string& arch,
                        const std::vector<std::string>& options, const HeaderList& headers) override {
    CompileResult res;
    bool userArch = false;
    for (const std::string& o : options)
      if (o.rfind("-arch", 0) == 0 || o.rfind("--gpu-architecture", 0) == 0 || o.rfind("-gpu-architecture", 0) == 0) {
        userArch = true;
        res.format = o.find("compute_") != std::string::npos ? "ptx" : "cubin";
      }
    if (!userArch) {
      // arch is "sm_<digits>[a|f]"; NVRTC older than the device gets PTX of its newest arch <= the device's.
      std::string digits;
      for (size_t i = 3; i < arch.size() && isdigit(static_cast<unsigned char>(arch[i])); i++) digits += arch[i];
      if (arch.rfind("sm_", 0) != 0 || digits.empty()) throw std::invalid_argument("compile: arch must be sm_XX, got '" + arch + "'");
      int want = std::stoi(digits);
      std::vector<int> archs = SupportedArchs();
      bool known = archs.empty() || std::find(archs.begin(), archs.end(), want) != archs.end();
      if (known && a.nvrtcGetCUBIN) {
        res.options.push_back("--gpu-architecture=" + arch);
        res.format = "cubin";
      } else {
        int best = want;
        if (!known) {
          best = 0;
          for (int x : archs)
            if (x <= want) best = std::max(best, x);
          if (best == 0) throw DriverError("nvrtc", "nvrtcCompileProgram", 5, "NVRTC_ERROR_INVALID_OPTION",
                                           "this NVRTC (" + Version() + ") supports no architecture <= " + arch);
        }
        res.options.push_back("--gpu-architecture=compute_" + std::to_string(best));
        res.format = "ptx";
      }
    }
    if (!includeDir.empty()) res.options.push_back("--include-path=" + includeDir);
    res.options.insert(res.options.end(), options.begin(), options.end());

    std::vector<const char*> hdrSrc, hdrName, opts;
    for (const auto& h : headers) {
      hdrName.push_back(h.first.c_str());
      hdrSrc.push_back(h.second.c_str());
    }
    for (const std::string& o : res.options) opts.push_back(o.c_str());

    nvrtcProgram prog = nullptr;
    Check(a.nvrtcCreateProgram(&prog, source.c_str(), name.c_str(), static_cast<int>(hdrSrc.size()), hdrSrc.data(),
                               hdrName.data()),
          "nvrtcCreateProgram");
    struct Guard {
      const NvrtcApi& a;
      nvrtcProgram* p;
      ~Guard() { a.nvrtcDestroyProgram(p); }
    } guard{a, &prog};
    nvrtcResult cr = a.nvrtcCompileProgram(prog, static_cast<int>(opts.size()), opts.data());
    size_t logSize = 0;
    if (a.nvrtcGetProgramLogSize(prog, &logSize) == 0 && logSize > 1) {
      std::vector<char> log(logSize + 1, 0);
      if (a.nvrtcGetProgramLog(prog, log.data()) == 0) res.log = log.data();
    }
    Check(cr, "nvrtcCompileProgram", res.log.empty() ? "(no compiler log)" : res.log);
    size_t size = 0;
    if (res.format == "cubin") {
      Check(a.nvrtcGetCUBINSize(prog, &size), "nvrtcGetCUBINSize");
      res.binary.resize(size);
      Check(a.nvrtcGetCUBIN(prog, reinterpret_cast<char*>(res.binary.data())), "nvrtcGetCUBIN");
    } else {
      Check(a.nvrtcGetPTXSize(prog, &size), "nvrtcGetPTXSize");
      res.binary.resize(size);
      Check(a.nvrtcGetPTX(prog, reinterpret_cast<char*>(res.binary.data())), "nvrtcGetPTX");
      while (!res.binary.empty() && res.binary.back() == 0) res.binary.pop_back();  // text without its NUL
    }
    return res;
  }
};

std::vector<std::string> ToolkitLibDirs() {
  std::vector<std::string> dirs;
  for (const char* v : {"CUDA_PATH", "CUDA_HOME", "CUDA_ROOT"}) {
    std::string p = Env(v);
    if (!p.empty()) {
      dirs.push_back(p + "/lib64");
      dirs.push_back(p + "/lib");
    }
  }
  for (const char* d : {"/usr/local/cuda/lib64", "/usr/local/cuda/lib", "/usr/local/cuda/targets/x86_64-linux/lib",
                        "/usr/local/cuda/targets/sbsa-linux/lib"})
    dirs.push_back(d);
  return dirs;
}

}  // namespace

std::shared_ptr<Driver> LoadCudaDriver(std::string* why) {
  static std::shared_ptr<Driver> cached;
  static std::string cachedWhy;
  static bool tried = false;
  if (tried) {
    *why = cachedWhy;
    return cached;
  }
  tried = true;
  auto d = std::make_shared<CudaDriver>();
  std::vector<std::string> names;
  if (!Env("KPACK_CUDA_LIB").empty()) names.push_back(Env("KPACK_CUDA_LIB"));
  names.push_back("libcuda.so.1");
  std::string err;
  if (!d->lib.Open(names, {"/usr/lib/wsl/lib"}, &err)) {
    cachedWhy = err + ": no NVIDIA driver";
    *why = cachedWhy;
    return nullptr;
  }
  CudaApi& a = d->a;
  std::string missing;
  const Library& l = d->lib;
  KPACK_LOAD(a, l, cuInit, missing, "cuInit");
  KPACK_LOAD(a, l, cuDriverGetVersion, missing, "cuDriverGetVersion");
  KPACK_LOAD(a, l, cuGetErrorName, missing, "cuGetErrorName");
  KPACK_LOAD(a, l, cuGetErrorString, missing, "cuGetErrorString");
  KPACK_LOAD(a, l, cuDeviceGetCount, missing, "cuDeviceGetCount");
  KPACK_LOAD(a, l, cuDeviceGet, missing, "cuDeviceGet");
  KPACK_LOAD(a, l, cuDeviceGetName, missing, "cuDeviceGetName");
  KPACK_LOAD(a, l, cuDeviceGetAttribute, missing, "cuDeviceGetAttribute");
  KPACK_LOAD(a, l, cuDeviceTotalMem, missing, "cuDeviceTotalMem_v2");
  KPACK_LOAD(a, l, cuDevicePrimaryCtxRetain, missing, "cuDevicePrimaryCtxRetain");
  KPACK_LOAD(a, l, cuDevicePrimaryCtxRelease, missing, "cuDevicePrimaryCtxRelease_v2", "cuDevicePrimaryCtxRelease");
  KPACK_LOAD(a, l, cuCtxSetCurrent, missing, "cuCtxSetCurrent");
  KPACK_LOAD(a, l, cuStreamCreate, missing, "cuStreamCreate");
  KPACK_LOAD(a, l, cuStreamDestroy, missing, "cuStreamDestroy_v2");
  KPACK_LOAD(a, l, cuStreamSynchronize, missing, "cuStreamSynchronize");
  KPACK_LOAD(a, l, cuMemAlloc, missing, "cuMemAlloc_v2");
  KPACK_LOAD(a, l, cuMemFree, missing, "cuMemFree_v2");
  KPACK_LOAD(a, l, cuMemcpyHtoDAsync, missing, "cuMemcpyHtoDAsync_v2");
  KPACK_LOAD(a, l, cuMemcpyDtoHAsync, missing, "cuMemcpyDtoHAsync_v2");
  KPACK_LOAD(a, l, cuMemsetD32Async, missing, "cuMemsetD32Async");
  KPACK_LOAD(a, l, cuModuleLoadDataEx, missing, "cuModuleLoadDataEx");
  KPACK_LOAD(a, l, cuModuleUnload, missing, "cuModuleUnload");
  KPACK_LOAD(a, l, cuModuleGetFunction, missing, "cuModuleGetFunction");
  KPACK_LOAD(a, l, cuFuncGetAttribute, missing, "cuFuncGetAttribute");
  KPACK_LOAD(a, l, cuFuncSetAttribute, missing, "cuFuncSetAttribute");
  KPACK_LOAD(a, l, cuLaunchKernel, missing, "cuLaunchKernel");
  KPACK_LOAD(a, l, cuEventCreate, missing, "cuEventCreate");
  KPACK_LOAD(a, l, cuEventDestroy, missing, "cuEventDestroy_v2");
  KPACK_LOAD(a, l, cuEventRecord, missing, "cuEventRecord");
  KPACK_LOAD(a, l, cuEventSynchronize, missing, "cuEventSynchronize");
  KPACK_LOAD(a, l, cuEventElapsedTime, missing, "cuEventElapsedTime_v2", "cuEventElapsedTime");
  a.cuFuncGetParamInfo = reinterpret_cast<decltype(a.cuFuncGetParamInfo)>(l.Sym("cuFuncGetParamInfo"));
  if (!missing.empty()) {
    cachedWhy = d->lib.path() + " lacks " + missing + " (not the CUDA driver, or one too old)";
    *why = cachedWhy;
    return nullptr;
  }
  try {
    d->Check(a.cuInit(0), "cuInit");
  } catch (const DriverError& e) {
    cachedWhy = e.what();
    *why = cachedWhy;
    return nullptr;
  }
  cached = d;
  return cached;
}

std::shared_ptr<Compiler> LoadNvrtc(std::string* why) {
  static std::shared_ptr<Compiler> cached;
  static std::string cachedWhy;
  static bool tried = false;
  if (tried) {
    *why = cachedWhy;
    return cached;
  }
  tried = true;
  auto c = std::make_shared<Nvrtc>();
  std::vector<std::string> names;
  if (!Env("KPACK_NVRTC_LIB").empty()) names.push_back(Env("KPACK_NVRTC_LIB"));
  for (const char* n : {"libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2"}) names.push_back(n);
  std::string err;
  if (!c->lib.Open(names, ToolkitLibDirs(), &err)) {
    cachedWhy = "NVRTC unavailable: " + err;
    *why = cachedWhy;
    return nullptr;
  }
  NvrtcApi& a = c->a;
  const Library& l = c->lib;
  std::string missing;
  KPACK_LOAD(a, l, nvrtcVersion, missing, "nvrtcVersion");
  KPACK_LOAD(a, l, nvrtcGetErrorString, missing, "nvrtcGetErrorString");
  KPACK_LOAD(a, l, nvrtcCreateProgram, missing, "nvrtcCreateProgram");
  KPACK_LOAD(a, l, nvrtcDestroyProgram, missing, "nvrtcDestroyProgram");
  KPACK_LOAD(a, l, nvrtcCompileProgram, missing, "nvrtcCompileProgram");
  KPACK_LOAD(a, l, nvrtcGetProgramLogSize, missing, "nvrtcGetProgramLogSize");
  KPACK_LOAD(a, l, nvrtcGetProgramLog, missing, "nvrtcGetProgramLog");
  KPACK_LOAD(a, l, nvrtcGetPTXSize, missing, "nvrtcGetPTXSize");
  KPACK_LOAD(a, l, nvrtcGetPTX, missing, "nvrtcGetPTX");
  a.nvrtcGetNumSupportedArchs = reinterpret_cast<decltype(a.nvrtcGetNumSupportedArchs)>(l.Sym("nvrtcGetNumSupportedArchs"));
  a.nvrtcGetSupportedArchs = reinterpret_cast<decltype(a.nvrtcGetSupportedArchs)>(l.Sym("nvrtcGetSupportedArchs"));
  a.nvrtcGetCUBINSize = reinterpret_cast<decltype(a.nvrtcGetCUBINSize)>(l.Sym("nvrtcGetCUBINSize"));
  a.nvrtcGetCUBIN = reinterpret_cast<decltype(a.nvrtcGetCUBIN)>(l.Sym("nvrtcGetCUBIN"));
  if (!a.nvrtcGetCUBINSize) a.nvrtcGetCUBIN = nullptr;
  if (!missing.empty()) {
    cachedWhy = "NVRTC unavailable: " + l.path() + " lacks " + missing;
    *why = cachedWhy;
    return nullptr;
  }
  // cuda_fp16.h: NVRTC may have it built in; else the toolkit's include dir beside the library has it.
  std::vector<std::string> incs;
  if (!Env("KPACK_CUDA_INCLUDE").empty()) incs.push_back(Env("KPACK_CUDA_INCLUDE"));
  std::string libDir = DirOfSymbol(reinterpret_cast<void*>(a.nvrtcCreateProgram));
  if (!libDir.empty()) incs.push_back(libDir + "/../include");
  for (const std::string& d : incs)
    if (access((d + "/cuda_fp16.h").c_str(), R_OK) == 0) {
      c->includeDir = d;
      break;
    }
  cached = c;
  return cached;
}

}  // namespace hip
}  // namespace kpack
