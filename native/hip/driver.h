// The small C++ interface the HIP / CUDA back-end is built on (see api.ts for the JS contract).
//
// Two vendors sit behind it, each loaded at run time with dlopen (never linked):
//  - cuda_driver.cc: libcuda.so.1 (the CUDA driver API) and libnvrtc.so (the run-time compiler);
//  - hip_driver.cc:  libamdhip64.so (the HIP module API) and libhiprtc.so (or hiprtc inside libamdhip64).
// Nothing here includes a vendor header: the few types and prototypes used are declared in each
// provider from the documented ABI (cuda.h of CUDA 13, hip_runtime_api.h of ROCm 5.2 / 6).
// Every failure throws DriverError; the N-API layer (errors.cc) turns it into a JS Error.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace kpack {
namespace hip {

/** A failed driver / compiler call: "<call> failed: <codeName> (<code>: <text>)" plus the compiler log. */
struct DriverError : std::runtime_error {
  DriverError(std::string api, std::string call, int code, std::string codeName, std::string text, std::string log = "");
  /** 'cuda' | 'hip' | 'nvrtc' | 'hiprtc' | 'dlopen' */
  std::string api;
  std::string call;
  int code;
  std::string codeName;
  std::string log;
};

/** What listDevices() reports for one device (bytes for memory sizes). */
struct DeviceProps {
  std::string api;   // 'cuda' | 'hip'
  int ordinal = 0;   // the vendor's own device index
  std::string name;
  std::string arch;  // 'sm_90' | 'gfx90a' (features stripped); see archFull
  std::string archFull;  // AMD: 'gfx90a:sramecc+:xnack-' (hiprtc's --offload-arch); NVIDIA: same as arch
  int ccMajor = 0, ccMinor = 0;  // NVIDIA compute capability (AMD: as HIP reports)
  int warpSize = 0;
  int multiprocessorCount = 0;
  int maxThreadsPerBlock = 0;
  uint64_t sharedMemPerBlock = 0;        // default per-block limit
  uint64_t sharedMemPerBlockOptin = 0;   // with the opt-in attribute (NVIDIA), else = sharedMemPerBlock
  uint64_t totalMem = 0;
  std::string driverVersion;  // "13.0" (CUDA driver API version) | HIP runtime version
};

using DevPtr = uint64_t;
using Handle = void*;

/** Function attributes read from a loaded kernel. */
struct FunctionInfo {
  int maxThreadsPerBlock = 0;
  int registers = 0;
  int staticSharedBytes = 0;
  int localBytes = 0;
  /** Byte size of each kernel parameter, where the driver says (CUDA 12.4+: cuFuncGetParamInfo); else empty. */
  std::vector<size_t> paramSizes;
  bool paramsKnown = false;
};

/**
 * One vendor's driver: device queries, a context per device, memory, modules, launches, events.
 * All calls act on the context made current by MakeCurrent (one thread: the JS main thread).
 */
class Driver {
 public:
  virtual ~Driver() = default;
  virtual const char* Api() const = 0;
  virtual int DeviceCount() = 0;
  virtual DeviceProps Props(int ordinal) = 0;

  /** Retain the device's (primary) context; Close releases it. */
  virtual Handle Open(int ordinal) = 0;
  virtual void Close(int ordinal, Handle ctx) = 0;
  virtual void MakeCurrent(int ordinal, Handle ctx) = 0;

  virtual Handle StreamCreate() = 0;
  virtual void StreamDestroy(Handle s) = 0;
  virtual void StreamSync(Handle s) = 0;

  virtual DevPtr Alloc(size_t bytes) = 0;
  virtual void Free(DevPtr p) = 0;
  /** Asynchronous on `s`; callers synchronize before reusing host memory. */
  virtual void CopyHtoD(DevPtr dst, const void* src, size_t bytes, Handle s) = 0;
  virtual void CopyDtoH(void* dst, DevPtr src, size_t bytes, Handle s) = 0;
  virtual void Fill32(DevPtr dst, uint32_t value, size_t count, Handle s) = 0;

  /** Load a cubin / PTX (NUL-terminated) / fatbin, or an AMD code object / offload bundle. */
  virtual Handle ModuleLoad(const std::vector<uint8_t>& image) = 0;
  virtual void ModuleUnload(Handle m) = 0;
  virtual Handle FunctionGet(Handle m, const std::string& name) = 0;
  virtual FunctionInfo FunctionQuery(Handle f) = 0;
  /** Allow `bytes` of dynamic shared memory (NVIDIA's opt-in above 48 KiB); no-op where not needed. */
  virtual void FunctionSetMaxDynamicShared(Handle f, int bytes) = 0;
  virtual void Launch(Handle f, const unsigned grid[3], const unsigned block[3], unsigned sharedBytes, Handle s,
                      void** args) = 0;

  virtual Handle EventCreate() = 0;
  virtual void EventDestroy(Handle e) = 0;
  virtual void EventRecord(Handle e, Handle s) = 0;
  virtual void EventSync(Handle e) = 0;
  /** Milliseconds between two completed events (the drivers' resolution is about 0.5 us). */
  virtual float EventElapsedMs(Handle start, Handle end) = 0;
};

/** What a compile produced. */
struct CompileResult {
  std::vector<uint8_t> binary;
  /** 'cubin' | 'ptx' (NVIDIA: PTX when NVRTC does not know the device's sm) | 'hsaco' (AMD code object) */
  std::string format;
  std::string log;
  /** The options actually passed to the compiler. */
  std::vector<std::string> options;
};

/** In-memory headers for #include, name -> text. */
using HeaderList = std::vector<std::pair<std::string, std::string>>;

/** A run-time compiler (NVRTC or hiprtc); no device needed. */
class Compiler {
 public:
  virtual ~Compiler() = default;
  virtual const char* Api() const = 0;  // 'nvrtc' | 'hiprtc'
  virtual std::string Version() = 0;
  /**
   * Compile `source` for `arch` ('sm_90' / 'gfx90a:sramecc+:xnack-'); `options` are passed after the
   * arch option the provider adds. Throws DriverError with the compiler log on failure.
   */
  virtual CompileResult Compile(const std::string& source, const std::string& name, const std::string& arch,
                                const std::vector<std::string>& options, const HeaderList& headers) = 0;
};

// Loaders: nullptr with *why set when the library is missing or its init fails. Each loads once.
std::shared_ptr<Driver> LoadCudaDriver(std::string* why);
std::shared_ptr<Driver> LoadHipDriver(std::string* why);
std::shared_ptr<Compiler> LoadNvrtc(std::string* why);
std::shared_ptr<Compiler> LoadHiprtc(std::string* why);

// ---------------------------------------------------------------- dl.cc
/** A dlopen'ed library (never closed: drivers stay loaded for the process). */
class Library {
 public:
  /**
   * Open the first of `names` that loads (a name with '/' is a path; else the dynamic linker's search,
   * then each of `dirs`). On failure returns false with *why = "<n1> not found (<dlerror>); <n2> ...".
   */
  bool Open(const std::vector<std::string>& names, const std::vector<std::string>& dirs, std::string* why);
  /** Symbol or nullptr. */
  void* Sym(const char* name) const;
  /** The first of `names` found, or nullptr. */
  void* SymAny(std::initializer_list<const char*> names) const;
  const std::string& path() const { return path_; }
  void* handle() const { return handle_; }

 private:
  void* handle_ = nullptr;
  std::string path_;
};

/** Set api.field to the first symbol of the list found in lib; append the field's name to `missing` if none. */
#define KPACK_LOAD(api, lib, field, missing, ...)                                 \
  do {                                                                            \
    api.field = reinterpret_cast<decltype(api.field)>(lib.SymAny({__VA_ARGS__})); \
    if (!api.field) missing += std::string(missing.empty() ? "" : ", ") + #field; \
  } while (0)

/** Environment variable or "" when unset. */
std::string Env(const char* name);
/** Directory of the shared object that defines `symbol` (dladdr), "" if unknown. */
std::string DirOfSymbol(void* symbol);

}  // namespace hip
}  // namespace kpack
