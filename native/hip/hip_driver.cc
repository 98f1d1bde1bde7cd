// AMD provider: the HIP module API from libamdhip64.so and hiprtc (libhiprtc.so, or inside
// libamdhip64 on ROCm 5), both by dlopen.
//
// Types, prototypes and enum values are declared from hip_runtime_api.h / hiprtc.h; the attribute
// numbers are the same in ROCm 5.2 and ROCm 6/7 (entries since then were appended or renamed
// "Unused", never renumbered). hipDeviceProp_t changed layout in ROCm 6 (hipGetDevicePropertiesR0600),
// so gcnArchName is found by scanning the struct rather than by offset.
#include <cstring>

#include "driver.h"

namespace kpack {
namespace hip {
namespace {

typedef int hipError_t;  // hipSuccess = 0
typedef int hipDevice_t;
typedef struct ihipStream_t* hipStream_t;
typedef struct ihipModule_t* hipModule_t;
typedef struct ihipModuleSymbol_t* hipFunction_t;
typedef struct ihipEvent_t* hipEvent_t;
typedef void* hipDeviceptr_t;

enum : int {
  hipDeviceAttributeComputeCapabilityMajor = 23,
  hipDeviceAttributeMaxThreadsPerBlock = 56,
  hipDeviceAttributeComputeCapabilityMinor = 61,
  hipDeviceAttributeMultiprocessorCount = 63,
  hipDeviceAttributeMaxSharedMemoryPerBlock = 74,
  hipDeviceAttributeWarpSize = 87,
};
enum : int {
  HIP_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 0,
  HIP_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES = 1,
  HIP_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES = 3,
  HIP_FUNC_ATTRIBUTE_NUM_REGS = 4,
};
enum : unsigned { kHipStreamNonBlocking = 1 };  // hipStreamNonBlocking

struct HipApi {
  hipError_t (*hipInit)(unsigned);
  hipError_t (*hipRuntimeGetVersion)(int*);
  const char* (*hipGetErrorName)(hipError_t);
  const char* (*hipGetErrorString)(hipError_t);
  hipError_t (*hipGetDeviceCount)(int*);
  hipError_t (*hipDeviceGet)(hipDevice_t*, int);
  hipError_t (*hipDeviceGetName)(char*, int, hipDevice_t);
  hipError_t (*hipDeviceGetAttribute)(int*, int, int);
  hipError_t (*hipDeviceTotalMem)(size_t*, hipDevice_t);
  hipError_t (*hipGetDeviceProperties)(void*, int);  // R0600 where exported, else the ROCm 5 layout
  hipError_t (*hipSetDevice)(int);
  hipError_t (*hipStreamCreateWithFlags)(hipStream_t*, unsigned);
  hipError_t (*hipStreamDestroy)(hipStream_t);
  hipError_t (*hipStreamSynchronize)(hipStream_t);
  hipError_t (*hipMalloc)(void**, size_t);
  hipError_t (*hipFree)(void*);
  hipError_t (*hipMemcpyHtoDAsync)(hipDeviceptr_t, const void*, size_t, hipStream_t);
  hipError_t (*hipMemcpyDtoHAsync)(void*, hipDeviceptr_t, size_t, hipStream_t);
  hipError_t (*hipMemsetD32Async)(hipDeviceptr_t, int, size_t, hipStream_t);
  hipError_t (*hipModuleLoadData)(hipModule_t*, const void*);
  hipError_t (*hipModuleUnload)(hipModule_t);
  hipError_t (*hipModuleGetFunction)(hipFunction_t*, hipModule_t, const char*);
  hipError_t (*hipFuncGetAttribute)(int*, int, hipFunction_t);  // optional
  hipError_t (*hipModuleLaunchKernel)(hipFunction_t, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                                      unsigned, hipStream_t, void**, void**);
  hipError_t (*hipEventCreate)(hipEvent_t*);
  hipError_t (*hipEventDestroy)(hipEvent_t);
  hipError_t (*hipEventRecord)(hipEvent_t, hipStream_t);
  hipError_t (*hipEventSynchronize)(hipEvent_t);
  hipError_t (*hipEventElapsedTime)(float*, hipEvent_t, hipEvent_t);
};

inline hipDeviceptr_t P(DevPtr p) { return reinterpret_cast<hipDeviceptr_t>(static_cast<uintptr_t>(p)); }

class HipDriver : public Driver {
 public:
  HipApi a{};
  Library lib;

  const char* Api() const override { return "hip"; }

  void Check(hipError_t r, const char* call) const {
    if (r == 0) return;
    const char* name = a.hipGetErrorName ? a.hipGetErrorName(r) : nullptr;
    const char* text = a.hipGetErrorString ? a.hipGetErrorString(r) : nullptr;
    throw DriverError("hip", call, r, name ? name : "hipError_t(" + std::to_string(r) + ")", text ? text : "");
  }

  int DeviceCount() override {
    int n = 0;
    Check(a.hipGetDeviceCount(&n), "hipGetDeviceCount");
    return n;
  }

  int Attr(int ordinal, int attr) const {
    int v = 0;
    Check(a.hipDeviceGetAttribute(&v, attr, ordinal), "hipDeviceGetAttribute");
    return v;
  }

  // gcnArchName ("gfx90a:sramecc+:xnack-") from hipDeviceProp_t of either layout: the first
  // NUL-preceded "gfx" string after name[256].
  std::string ArchName(int ordinal) const {
    std::vector<uint64_t> buf(8192, 0);  // 64 KiB, far larger than either struct
    Check(a.hipGetDeviceProperties(buf.data(), ordinal), "hipGetDeviceProperties");
    const char* b = reinterpret_cast<const char*>(buf.data());
    const size_t n = buf.size() * sizeof(uint64_t) - 256;
    for (size_t i = 256; i < n; i++)
      if (b[i - 1] == 0 && std::memcmp(b + i, "gfx", 3) == 0) return std::string(b + i, strnlen(b + i, 255));
    return "";
  }

  DeviceProps Props(int ordinal) override {
    DeviceProps p;
    p.api = "hip";
    p.ordinal = ordinal;
    hipDevice_t d = 0;
    Check(a.hipDeviceGet(&d, ordinal), "hipDeviceGet");
    char name[256] = {0};
    Check(a.hipDeviceGetName(name, sizeof(name) - 1, d), "hipDeviceGetName");
    p.name = name;
    p.archFull = ArchName(ordinal);
    p.arch = p.archFull.substr(0, p.archFull.find(':'));
    if (p.arch.empty()) p.arch = p.archFull = "unknown";
    p.ccMajor = Attr(ordinal, hipDeviceAttributeComputeCapabilityMajor);
    p.ccMinor = Attr(ordinal, hipDeviceAttributeComputeCapabilityMinor);
    p.warpSize = Attr(ordinal, hipDeviceAttributeWarpSize);
    p.multiprocessorCount = Attr(ordinal, hipDeviceAttributeMultiprocessorCount);
    p.maxThreadsPerBlock = Attr(ordinal, hipDeviceAttributeMaxThreadsPerBlock);
    p.sharedMemPerBlock = static_cast<uint64_t>(Attr(ordinal, hipDeviceAttributeMaxSharedMemoryPerBlock));
    p.sharedMemPerBlockOptin = p.sharedMemPerBlock;
    size_t total = 0;
    Check(a.hipDeviceTotalMem(&total, d), "hipDeviceTotalMem");
    p.totalMem = total;
    int v = 0;
    if (a.hipRuntimeGetVersion && a.hipRuntimeGetVersion(&v) == 0) {
      // HIP_VERSION = major * 10000000 + minor * 100000 + patch
      p.driverVersion = std::to_string(v / 10000000) + "." + std::to_string((v / 100000) % 100);
    }
    return p;
  }

  Handle Open(int ordinal) override {
    Check(a.hipSetDevice(ordinal), "hipSetDevice");
    return reinterpret_cast<Handle>(static_cast<uintptr_t>(ordinal + 1));
  }
  void Close(int, Handle) override {}
  void MakeCurrent(int ordinal, Handle) override { Check(a.hipSetDevice(ordinal), "hipSetDevice"); }

  Handle StreamCreate() override {
    hipStream_t s = nullptr;
    Check(a.hipStreamCreateWithFlags(&s, kHipStreamNonBlocking), "hipStreamCreateWithFlags");
    return s;
  }
  void StreamDestroy(Handle s) override { Check(a.hipStreamDestroy(static_cast<hipStream_t>(s)), "hipStreamDestroy"); }
  void StreamSync(Handle s) override { Check(a.hipStreamSynchronize(static_cast<hipStream_t>(s)), "hipStreamSynchronize"); }

  DevPtr Alloc(size_t bytes) override {
    void* p = nullptr;
    Check(a.hipMalloc(&p, bytes), "hipMalloc");
    return reinterpret_cast<uintptr_t>(p);
  }
  void Free(DevPtr p) override { Check(a.hipFree(P(p)), "hipFree"); }
  void CopyHtoD(DevPtr dst, const void* src, size_t bytes, Handle s) override {
    Check(a.hipMemcpyHtoDAsync(P(dst), src, bytes, static_cast<hipStream_t>(s)), "hipMemcpyHtoDAsync");
  }
  void CopyDtoH(void* dst, DevPtr src, size_t bytes, Handle s) override {
    Check(a.hipMemcpyDtoHAsync(dst, P(src), bytes, static_cast<hipStream_t>(s)), "hipMemcpyDtoHAsync");
  }
  void Fill32(DevPtr dst, uint32_t value, size_t count, Handle s) override {
    Check(a.hipMemsetD32Async(P(dst), static_cast<int>(value), count, static_cast<hipStream_t>(s)), "hipMemsetD32Async");
  }

  Handle ModuleLoad(const std::vector<uint8_t>& image) override {
    hipModule_t m = nullptr;
    Check(a.hipModuleLoadData(&m, image.data()), "hipModuleLoadData");
    return m;
  }
  void ModuleUnload(Handle m) override { Check(a.hipModuleUnload(static_cast<hipModule_t>(m)), "hipModuleUnload"); }
  Handle FunctionGet(Handle m, const std::string& name) override {
    hipFunction_t f = nullptr;
    hipError_t r = a.hipModuleGetFunction(&f, static_cast<hipModule_t>(m), name.c_str());
    if (r != 0) {
      try {
        Check(r, "hipModuleGetFunction");
      } catch (DriverError& e) {
        throw DriverError(e.api, e.call, e.code, e.codeName,
                          "no kernel named '" + name + "' (declare it extern \"C\" __global__)");
      }
    }
    return f;
  }
  FunctionInfo FunctionQuery(Handle fh) override {
    FunctionInfo fi;
    if (!a.hipFuncGetAttribute) return fi;
    hipFunction_t f = static_cast<hipFunction_t>(fh);
    Check(a.hipFuncGetAttribute(&fi.maxThreadsPerBlock, HIP_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, f), "hipFuncGetAttribute");
    Check(a.hipFuncGetAttribute(&fi.registers, HIP_FUNC_ATTRIBUTE_NUM_REGS, f), "hipFuncGetAttribute");
    Check(a.hipFuncGetAttribute(&fi.staticSharedBytes, HIP_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, f), "hipFuncGetAttribute");
    Check(a.hipFuncGetAttribute(&fi.localBytes, HIP_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES, f), "hipFuncGetAttribute");
    return fi;
  }
  void FunctionSetMaxDynamicShared(Handle, int) override {}  // AMD: the whole LDS is available without opt-in
  void Launch(Handle f, const unsigned g[3], const unsigned b[3], unsigned shared, Handle s, void** args) override {
    Check(a.hipModuleLaunchKernel(static_cast<hipFunction_t>(f), g[0], g[1], g[2], b[0], b[1], b[2], shared,
                                  static_cast<hipStream_t>(s), args, nullptr),
          "hipModuleLaunchKernel");
  }

  Handle EventCreate() override {
    hipEvent_t e = nullptr;
    Check(a.hipEventCreate(&e), "hipEventCreate");
    return e;
  }
  void EventDestroy(Handle e) override { Check(a.hipEventDestroy(static_cast<hipEvent_t>(e)), "hipEventDestroy"); }
  void EventRecord(Handle e, Handle s) override {
    Check(a.hipEventRecord(static_cast<hipEvent_t>(e), static_cast<hipStream_t>(s)), "hipEventRecord");
  }
  void EventSync(Handle e) override { Check(a.hipEventSynchronize(static_cast<hipEvent_t>(e)), "hipEventSynchronize"); }
  float EventElapsedMs(Handle s, Handle e) override {
    float ms = 0;
    Check(a.hipEventElapsedTime(&ms, static_cast<hipEvent_t>(s), static_cast<hipEvent_t>(e)), "hipEventElapsedTime");
    return ms;
  }
};

// ---------------------------------------------------------------- hiprtc (hiprtc.h)
typedef int hiprtcResult;  // HIPRTC_SUCCESS = 0
typedef struct _hiprtcProgram* hiprtcProgram;

struct HiprtcApi {
  hiprtcResult (*hiprtcVersion)(int*, int*);
  const char* (*hiprtcGetErrorString)(hiprtcResult);
  hiprtcResult (*hiprtcCreateProgram)(hiprtcProgram*, const char*, const char*, int, const char**, const char**);
  hiprtcResult (*hiprtcDestroyProgram)(hiprtcProgram*);
  hiprtcResult (*hiprtcCompileProgram)(hiprtcProgram, int, const char**);
  hiprtcResult (*hiprtcGetProgramLogSize)(hiprtcProgram, size_t*);
  hiprtcResult (*hiprtcGetProgramLog)(hiprtcProgram, char*);
  hiprtcResult (*hiprtcGetCodeSize)(hiprtcProgram, size_t*);
  hiprtcResult (*hiprtcGetCode)(hiprtcProgram, char*);
};

class Hiprtc : public Compiler {
 public:
  HiprtcApi a{};
  Library lib;

  const char* Api() const override { return "hiprtc"; }
  std::string Version() override {
    int maj = 0, min = 0;
    a.hiprtcVersion(&maj, &min);
    return std::to_string(maj) + "." + std::to_string(min);
  }
  void Check(hiprtcResult r, const char* call, const std::string& log = "") const {
    if (r == 0) return;
    const char* s = a.hiprtcGetErrorString ? a.hiprtcGetErrorString(r) : nullptr;
    throw DriverError("hiprtc", call, r, s ? s : "hiprtcResult(" + std::to_string(r) + ")", "", log);
  }

  CompileResult Compile(const std::string& source, const std::string& name, const std::string& arch,
                        const std::vector<std::string>& options, const HeaderList& headers) override {
    CompileResult res;
    res.format = "hsaco";
    bool userArch = false;
    for (const std::string& o : options)
      if (o.find("offload-arch") != std::string::npos || o.find("gpu-architecture") != std::string::npos) userArch = true;
    if (!userArch) {
      if (arch.rfind("gfx", 0) != 0) throw std::invalid_argument("compile: arch must be gfxNNN[:features], got '" + arch + "'");
      res.options.push_back("--offload-arch=" + arch);
    }
    res.options.insert(res.options.end(), options.begin(), options.end());
    std::vector<const char*> hdrSrc, hdrName, opts;
    for (const auto& h : headers) {
      hdrName.push_back(h.first.c_str());
      hdrSrc.push_back(h.second.c_str());
    }
    for (const std::string& o : res.options) opts.push_back(o.c_str());

    hiprtcProgram prog = nullptr;
    Check(a.hiprtcCreateProgram(&prog, source.c_str(), name.c_str(), static_cast<int>(hdrSrc.size()), hdrSrc.data(),
                                hdrName.data()),
          "hiprtcCreateProgram");
    struct Guard {
      const HiprtcApi& a;
      hiprtcProgram* p;
      ~Guard() { a.hiprtcDestroyProgram(p); }
    } guard{a, &prog};
    hiprtcResult cr = a.hiprtcCompileProgram(prog, static_cast<int>(opts.size()), opts.data());
    size_t logSize = 0;
    if (a.hiprtcGetProgramLogSize(prog, &logSize) == 0 && logSize > 1) {
      std::vector<char> log(logSize + 1, 0);
      if (a.hiprtcGetProgramLog(prog, log.data()) == 0) res.log = log.data();
    }
    Check(cr, "hiprtcCompileProgram", res.log.empty() ? "(no compiler log)" : res.log);
    size_t size = 0;
    Check(a.hiprtcGetCodeSize(prog, &size), "hiprtcGetCodeSize");
    res.binary.resize(size);
    Check(a.hiprtcGetCode(prog, reinterpret_cast<char*>(res.binary.data())), "hiprtcGetCode");
    return res;
  }
};

std::vector<std::string> RocmLibDirs() {
  std::vector<std::string> dirs;
  for (const char* v : {"ROCM_PATH", "HIP_PATH"}) {
    std::string p = Env(v);
    if (!p.empty()) dirs.push_back(p + "/lib");
  }
  dirs.push_back("/opt/rocm/lib");
  return dirs;
}

std::vector<std::string> HipLibNames() {
  std::vector<std::string> names;
  if (!Env("KPACK_HIP_LIB").empty()) names.push_back(Env("KPACK_HIP_LIB"));
  for (const char* n : {"libamdhip64.so", "libamdhip64.so.7", "libamdhip64.so.6", "libamdhip64.so.5"}) names.push_back(n);
  return names;
}

}  // namespace

std::shared_ptr<Driver> LoadHipDriver(std::string* why) {
  static std::shared_ptr<Driver> cached;
  static std::string cachedWhy;
  static bool tried = false;
  if (tried) {
    *why = cachedWhy;
    return cached;
  }
  tried = true;
  auto d = std::make_shared<HipDriver>();
  std::string err;
  if (!d->lib.Open(HipLibNames(), RocmLibDirs(), &err)) {
    cachedWhy = err + ": no ROCm HIP runtime";
    *why = cachedWhy;
    return nullptr;
  }
  HipApi& a = d->a;
  const Library& l = d->lib;
  std::string missing;
  KPACK_LOAD(a, l, hipInit, missing, "hipInit");
  KPACK_LOAD(a, l, hipRuntimeGetVersion, missing, "hipRuntimeGetVersion");
  KPACK_LOAD(a, l, hipGetErrorName, missing, "hipGetErrorName");
  KPACK_LOAD(a, l, hipGetErrorString, missing, "hipGetErrorString");
  KPACK_LOAD(a, l, hipGetDeviceCount, missing, "hipGetDeviceCount");
  KPACK_LOAD(a, l, hipDeviceGet, missing, "hipDeviceGet");
  KPACK_LOAD(a, l, hipDeviceGetName, missing, "hipDeviceGetName");
  KPACK_LOAD(a, l, hipDeviceGetAttribute, missing, "hipDeviceGetAttribute");
  KPACK_LOAD(a, l, hipDeviceTotalMem, missing, "hipDeviceTotalMem");
  KPACK_LOAD(a, l, hipGetDeviceProperties, missing, "hipGetDevicePropertiesR0600", "hipGetDeviceProperties");
  KPACK_LOAD(a, l, hipSetDevice, missing, "hipSetDevice");
  KPACK_LOAD(a, l, hipStreamCreateWithFlags, missing, "hipStreamCreateWithFlags");
  KPACK_LOAD(a, l, hipStreamDestroy, missing, "hipStreamDestroy");
  KPACK_LOAD(a, l, hipStreamSynchronize, missing, "hipStreamSynchronize");
  KPACK_LOAD(a, l, hipMalloc, missing, "hipMalloc");
  KPACK_LOAD(a, l, hipFree, missing, "hipFree");
  KPACK_LOAD(a, l, hipMemcpyHtoDAsync, missing, "hipMemcpyHtoDAsync");
  KPACK_LOAD(a, l, hipMemcpyDtoHAsync, missing, "hipMemcpyDtoHAsync");
  KPACK_LOAD(a, l, hipMemsetD32Async, missing, "hipMemsetD32Async");
  KPACK_LOAD(a, l, hipModuleLoadData, missing, "hipModuleLoadData");
  KPACK_LOAD(a, l, hipModuleUnload, missing, "hipModuleUnload");
  KPACK_LOAD(a, l, hipModuleGetFunction, missing, "hipModuleGetFunction");
  KPACK_LOAD(a, l, hipModuleLaunchKernel, missing, "hipModuleLaunchKernel");
  KPACK_LOAD(a, l, hipEventCreate, missing, "hipEventCreate");
  KPACK_LOAD(a, l, hipEventDestroy, missing, "hipEventDestroy");
  KPACK_LOAD(a, l, hipEventRecord, missing, "hipEventRecord");
  KPACK_LOAD(a, l, hipEventSynchronize, missing, "hipEventSynchronize");
  KPACK_LOAD(a, l, hipEventElapsedTime, missing, "hipEventElapsedTime");
  a.hipFuncGetAttribute = reinterpret_cast<decltype(a.hipFuncGetAttribute)>(l.Sym("hipFuncGetAttribute"));
  if (!missing.empty()) {
    cachedWhy = l.path() + " lacks " + missing;
    *why = cachedWhy;
    return nullptr;
  }
  try {
    d->Check(a.hipInit(0), "hipInit");
  } catch (const DriverError& e) {
    cachedWhy = e.what();
    *why = cachedWhy;
    return nullptr;
  }
  cached = d;
  return cached;
}

std::shared_ptr<Compiler> LoadHiprtc(std::string* why) {
  static std::shared_ptr<Compiler> cached;
  static std::string cachedWhy;
  static bool tried = false;
  if (tried) {
    *why = cachedWhy;
    return cached;
  }
  tried = true;
  auto c = std::make_shared<Hiprtc>();
  std::vector<std::string> names;
  if (!Env("KPACK_HIPRTC_LIB").empty()) names.push_back(Env("KPACK_HIPRTC_LIB"));
  for (const char* n : {"libhiprtc.so", "libhiprtc.so.7", "libhiprtc.so.6", "libhiprtc.so.5"}) names.push_back(n);
  std::string err, err2;
  // ROCm 5 ships hiprtc inside libamdhip64.
  if (!c->lib.Open(names, RocmLibDirs(), &err) && !c->lib.Open(HipLibNames(), RocmLibDirs(), &err2)) {
    cachedWhy = "hiprtc unavailable: " + err + "; " + err2;
    *why = cachedWhy;
    return nullptr;
  }
  HiprtcApi& a = c->a;
  const Library& l = c->lib;
  std::string missing;
  KPACK_LOAD(a, l, hiprtcVersion, missing, "hiprtcVersion");
  KPACK_LOAD(a, l, hiprtcGetErrorString, missing, "hiprtcGetErrorString");
  KPACK_LOAD(a, l, hiprtcCreateProgram, missing, "hiprtcCreateProgram");
  KPACK_LOAD(a, l, hiprtcDestroyProgram, missing, "hiprtcDestroyProgram");
  KPACK_LOAD(a, l, hiprtcCompileProgram, missing, "hiprtcCompileProgram");
  KPACK_LOAD(a, l, hiprtcGetProgramLogSize, missing, "hiprtcGetProgramLogSize");
  KPACK_LOAD(a, l, hiprtcGetProgramLog, missing, "hiprtcGetProgramLog");
  KPACK_LOAD(a, l, hiprtcGetCodeSize, missing, "hiprtcGetCodeSize");
  KPACK_LOAD(a, l, hiprtcGetCode, missing, "hiprtcGetCode");
  if (!missing.empty()) {
    cachedWhy = "hiprtc unavailable: " + l.path() + " lacks " + missing;
    *why = cachedWhy;
    return nullptr;
  }
  cached = c;
  return cached;
}

}  // namespace hip
}  // namespace kpack
