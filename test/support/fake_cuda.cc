// A fake CUDA driver + NVRTC on the CPU, for testing native/hip's N-API layer without a GPU:
// test/hip-native.test.ts builds it as a shared library and runs native/hip/smoke.js against it with
// KPACK_CUDA_LIB / KPACK_NVRTC_LIB pointing here. Device memory is host memory; "compiling" returns
// the source as the module image; launches run CPU versions of native/hip/smoke-kernels.hip's
// kernels, reading the parameters exactly as cuLaunchKernel would (one pointer per parameter).
// It enforces what the real driver does that the addon must get right: a current context for every
// call, the opt-in before more than 48 KiB of dynamic shared memory, parameter sizes.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <string>
#include <vector>

namespace {
struct Fn {
  std::string name;
  int maxDynShared = 48 * 1024;
};
struct Prog {
  std::string src, log;
  std::vector<std::string> opts;
};
int g_ctx = 0;  // address used as the one primary context
void* g_current = nullptr;
int g_retained = 0;
std::map<std::string, std::vector<size_t>> kParams = {
    {"vadd", {8, 8, 8, 4}}, {"warp_sum", {8, 8, 4}}, {"half_double", {8, 8, 4}}, {"block_reverse", {8, 8}}};
double Now() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}
#define NEED_CTX \
  if (!g_current) return 201  // CUDA_ERROR_INVALID_CONTEXT
template <class T>
T P(void** args, int i) {
  T v;
  std::memcpy(&v, args[i], sizeof(T));
  return v;
}
}  // namespace

extern "C" {
int cuInit(unsigned) { return 0; }
int cuDriverGetVersion(int* v) { *v = 13000; return 0; }
int cuGetErrorName(int r, const char** s) {
  *s = r == 1 ? "CUDA_ERROR_INVALID_VALUE" : r == 201 ? "CUDA_ERROR_INVALID_CONTEXT" : r == 500 ? "CUDA_ERROR_NOT_FOUND" : "CUDA_ERROR_UNKNOWN";
  return 0;
}
int cuGetErrorString(int r, const char** s) { *s = r == 500 ? "named symbol not found" : "fake error"; return 0; }
int cuDeviceGetCount(int* n) { *n = 1; return 0; }
int cuDeviceGet(int* d, int o) { if (o != 0) return 101; *d = 0; return 0; }
int cuDeviceGetName(char* n, int len, int) { std::strncpy(n, "Fake H200", len); return 0; }
int cuDeviceGetAttribute(int* v, int a, int) {
  switch (a) {
    case 1: *v = 1024; break;     // max threads per block
    case 8: *v = 49152; break;    // shared per block
    case 10: *v = 32; break;      // warp
    case 16: *v = 132; break;     // SMs
    case 75: *v = 9; break;
    case 76: *v = 0; break;
    case 97: *v = 232448; break;  // opt-in shared
    default: return 1;
  }
  return 0;
}
int cuDeviceTotalMem_v2(size_t* b, int) { *b = size_t(141) << 30; return 0; }
int cuDevicePrimaryCtxRetain(void** c, int) { *c = &g_ctx; g_retained++; return 0; }
int cuDevicePrimaryCtxRelease_v2(int) { return g_retained-- > 0 ? 0 : 1; }
int cuCtxSetCurrent(void* c) { if (c && c != &g_ctx) return 201; g_current = c; return 0; }
int cuStreamCreate(void** s, unsigned) { NEED_CTX; *s = std::malloc(1); return 0; }
int cuStreamDestroy_v2(void* s) { std::free(s); return 0; }
int cuStreamSynchronize(void*) { NEED_CTX; return 0; }
int cuMemAlloc_v2(uint64_t* p, size_t n) { NEED_CTX; *p = reinterpret_cast<uintptr_t>(std::malloc(n)); return *p ? 0 : 2; }
int cuMemFree_v2(uint64_t p) { NEED_CTX; std::free(reinterpret_cast<void*>(p)); return 0; }
int cuMemcpyHtoDAsync_v2(uint64_t d, const void* s, size_t n, void*) { NEED_CTX; std::memcpy(reinterpret_cast<void*>(d), s, n); return 0; }
int cuMemcpyDtoHAsync_v2(void* d, uint64_t s, size_t n, void*) { NEED_CTX; std::memcpy(d, reinterpret_cast<void*>(s), n); return 0; }
int cuMemsetD32Async(uint64_t d, unsigned v, size_t n, void*) {
  NEED_CTX;
  for (size_t i = 0; i < n; i++) reinterpret_cast<uint32_t*>(d)[i] = v;
  return 0;
}
int cuModuleLoadDataEx(void** m, const void* image, unsigned, int*, void**) {
  NEED_CTX;
  *m = new std::string(static_cast<const char*>(image));
  return 0;
}
int cuModuleUnload(void* m) { NEED_CTX; delete static_cast<std::string*>(m); return 0; }
int cuModuleGetFunction(void** f, void* m, const char* name) {
  NEED_CTX;
  std::string n(name);
  const std::string& src = *static_cast<std::string*>(m);
  if (!kParams.count(n) || (src.find("void " + n) == std::string::npos && src.find(") " + n + "(") == std::string::npos))
    return 500;
  *f = new Fn{n};
  return 0;
}
int cuFuncGetAttribute(int* v, int a, void* f) {
  NEED_CTX;
  const Fn* fn = static_cast<Fn*>(f);
  *v = a == 0 ? (fn->name == "warp_sum" ? 256 : 1024) : a == 4 ? 16 : 0;
  return 0;
}
int cuFuncSetAttribute(void* f, int a, int v) {
  NEED_CTX;
  if (a != 8 || v > 232448) return 1;
  static_cast<Fn*>(f)->maxDynShared = v;
  return 0;
}
int cuFuncGetParamInfo(void* f, size_t i, size_t* off, size_t* size) {
  const std::vector<size_t>& p = kParams[static_cast<Fn*>(f)->name];
  if (i >= p.size()) return 1;
  *off = 0;
  for (size_t k = 0; k < i; k++) *off += p[k];
  *size = p[i];
  return 0;
}
int cuLaunchKernel(void* f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz, unsigned shared,
                   void*, void** args, void**) {
  NEED_CTX;
  const Fn* fn = static_cast<Fn*>(f);
  if (int(shared) > fn->maxDynShared || bx * by * bz > 1024 || !gx || !gy || !gz) return 1;
  const uint64_t total = uint64_t(gx) * bx;
  if (fn->name == "vadd") {
    auto a = P<float*>(args, 0), b = P<float*>(args, 1), c = P<float*>(args, 2);
    uint32_t n = P<uint32_t>(args, 3);
    for (uint64_t i = 0; i < total && i < n; i++) c[i] = a[i] + b[i];
  } else if (fn->name == "warp_sum") {
    auto in = P<uint32_t*>(args, 0), out = P<uint32_t*>(args, 1);
    uint32_t n = P<uint32_t>(args, 2);
    for (uint64_t g = 0; g * 32 < total && g * 32 < n; g++) {
      uint32_t s = 0;
      for (uint64_t j = g * 32; j < g * 32 + 32; j++) s += j < n ? in[j] : 0;
      out[g] = s;
    }
  } else if (fn->name == "half_double") {
    auto x = P<float*>(args, 0), y = P<float*>(args, 1);
    uint32_t n = P<uint32_t>(args, 2);
    for (uint64_t i = 0; i < total && i < n; i++) y[i] = 2 * x[i];
  } else if (fn->name == "block_reverse") {
    if (shared < bx * 4) return 719;  // the kernel would fault: CUDA_ERROR_LAUNCH_FAILED
    auto in = P<uint32_t*>(args, 0), out = P<uint32_t*>(args, 1);
    for (uint64_t b = 0; b < gx; b++)
      for (uint64_t t = 0; t < bx; t++) out[b * bx + t] = in[b * bx + bx - 1 - t];
  }
  return 0;
}
int cuEventCreate(void** e, unsigned) { NEED_CTX; *e = new double(0); return 0; }
int cuEventDestroy_v2(void* e) { delete static_cast<double*>(e); return 0; }
int cuEventRecord(void* e, void*) {
  NEED_CTX;
  *static_cast<double*>(e) = Now();
  return 0;
}
int cuEventSynchronize(void*) { NEED_CTX; return 0; }
int cuEventElapsedTime_v2(float* ms, void* a, void* b) {
  *ms = static_cast<float>(*static_cast<double*>(b) - *static_cast<double*>(a)) + 1e-4f;  // never 0: launches take time
  return 0;
}

// ---- NVRTC
int nvrtcVersion(int* a, int* b) { *a = 13; *b = 0; return 0; }
const char* nvrtcGetErrorString(int r) { return r == 6 ? "NVRTC_ERROR_COMPILATION" : r == 5 ? "NVRTC_ERROR_INVALID_OPTION" : "NVRTC_ERROR"; }
int nvrtcGetNumSupportedArchs(int* n) { *n = 7; return 0; }
int nvrtcGetSupportedArchs(int* a) {
  const int v[] = {75, 80, 86, 89, 90, 100, 120};
  std::memcpy(a, v, sizeof(v));
  return 0;
}
int nvrtcCreateProgram(void** p, const char* src, const char*, int nh, const char* const* h, const char* const* names) {
  for (int i = 0; i < nh; i++)
    if (!h[i] || !names[i]) return 3;
  *p = new Prog{src};
  return 0;
}
int nvrtcDestroyProgram(void** p) { delete static_cast<Prog*>(*p); *p = nullptr; return 0; }
int nvrtcCompileProgram(void* pp, int n, const char* const* o) {
  Prog* p = static_cast<Prog*>(pp);
  for (int i = 0; i < n; i++) p->opts.push_back(o[i]);
  bool arch = false, dd = false;
  for (const std::string& s : p->opts) arch |= s == "--gpu-architecture=sm_90", dd |= s == "-default-device";
  if (!arch || !dd) { p->log = "fake nvrtc: expected --gpu-architecture=sm_90 and -default-device"; return 5; }
  if (p->src.find("KPACK_HIP_CUDA_PRELUDE_H") == std::string::npos) { p->log = "fake nvrtc: no prelude"; return 6; }
  size_t bad = p->src.find("undefined_thing_42");
  if (bad != std::string::npos) {
    p->log = "bad.hip(1): error: identifier \"undefined_thing_42\" is undefined\n";
    return 6;
  }
  p->log = "";
  return 0;
}
int nvrtcGetProgramLogSize(void* p, size_t* n) { *n = static_cast<Prog*>(p)->log.size() + 1; return 0; }
int nvrtcGetProgramLog(void* p, char* out) { std::strcpy(out, static_cast<Prog*>(p)->log.c_str()); return 0; }
int nvrtcGetCUBINSize(void* p, size_t* n) { *n = static_cast<Prog*>(p)->src.size(); return 0; }
int nvrtcGetCUBIN(void* p, char* out) { std::memcpy(out, static_cast<Prog*>(p)->src.data(), static_cast<Prog*>(p)->src.size()); return 0; }
int nvrtcGetPTXSize(void* p, size_t* n) { return nvrtcGetCUBINSize(p, n); }
int nvrtcGetPTX(void* p, char* out) { return nvrtcGetCUBIN(p, out); }
}
