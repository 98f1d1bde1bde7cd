// N-API side of the HIP / CUDA back-end (see api.ts for the JS contract, driver.h for the drivers).
//
// Ownership, as in native/vulkan: a Context owns a DeviceState (driver, context, stream, event pool).
// Every GpuBuffer / Module is a Resource holding a shared_ptr to its DeviceState and registered in
// DeviceState::resources; Context.destroy() synchronizes and force-releases every registered resource.
// A KernelFunction holds its Module. Driver errors become JS Errors in errors.cc (Guard).
#pragma once
#include <napi.h>

#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "driver.h"

namespace kpack {
namespace hip {

// ---------------------------------------------------------------- errors.cc
/** Throws a JS Error "<call> failed: <name> (<code>: <text>)[\n<log>]" with .api .call .code .codeName .log. */
[[noreturn]] void ThrowDriver(Napi::Env env, const DriverError& e);
[[noreturn]] void ThrowType(Napi::Env env, const std::string& msg);
[[noreturn]] void ThrowRange(Napi::Env env, const std::string& msg);
[[noreturn]] void ThrowError(Napi::Env env, const std::string& msg);

/** Runs f, turning DriverError / std::invalid_argument / std::bad_alloc into JS exceptions. */
template <class F>
auto Guard(Napi::Env env, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const DriverError& e) {
    ThrowDriver(env, e);
  } catch (const std::invalid_argument& e) {
    ThrowType(env, e.what());
  } catch (const std::bad_alloc&) {
    ThrowError(env, "out of host memory");
  }
}

uint64_t ArgU64(Napi::Env env, const Napi::Value& v, const std::string& what);
uint64_t ArgU64Opt(Napi::Env env, const Napi::Value& v, const std::string& what, uint64_t def);
uint32_t ArgU32(Napi::Env env, const Napi::Value& v, const std::string& what);
std::string ArgString(Napi::Env env, const Napi::Value& v, const std::string& what);
struct ByteView {
  const uint8_t* data;
  size_t size;
};
ByteView ArgBytes(Napi::Env env, const Napi::Value& v, const std::string& what);

enum LiveKind { kLiveContext = 0, kLiveBuffer, kLiveModule, kLiveKinds };
void LiveAdd(LiveKind k, int delta);
/** { contexts, buffers, modules } live counts. */
Napi::Object LiveObjects(Napi::Env env);

// ---------------------------------------------------------------- backends.cc
struct DeviceEntry {
  std::shared_ptr<Driver> driver;
  DeviceProps props;
};
/** Every driver and device found (loaded once); never throws. */
struct Backends {
  std::vector<DeviceEntry> devices;
  bool cudaOk = false, hipOk = false;
  std::string cudaWhy, hipWhy;  // why a provider is unusable ("" when usable)
  /** "HIP back-end unavailable: cuda: <why>; hip: <why>" when there is no device, else "". */
  std::string reason;
};
const Backends& GetBackends();
/** The DeviceInfo object of api.ts. */
Napi::Object DeviceInfoObject(Napi::Env env, uint32_t index, const DeviceProps& p);

// ---------------------------------------------------------------- compile.cc
struct CompileRequest {
  std::string source, name;
  std::vector<std::string> options;  // defines as -D..., then the caller's options
  HeaderList headers;
};
/** Parse compile(source, { name?, defines?, options?, headers? }) arguments. */
CompileRequest ParseCompileArgs(Napi::Env env, const Napi::Value& source, const Napi::Value& opts, const char* fn);
/**
 * Compile for `api` ('cuda': NVRTC with the prelude, -default-device, --std=c++17, -DKPACK_NVRTC=1;
 * 'hip': hiprtc with -DKPACK_HIPRTC=1) and -DKPACK_WARP_SIZE=<warpSize>. Throws DriverError, or
 * Error "NVRTC unavailable: ..." when the compiler library is missing.
 */
CompileResult RunCompile(Napi::Env env, const std::string& api, const std::string& arch, int warpSize,
                         const CompileRequest& req);
/** The device-side prelude NVRTC sources get (templates/partials/hip_cuda_prelude.h, set from index.ts). */
void SetPrelude(const std::string& text);
/** { binary: Uint8Array, format, log, options } */
Napi::Object CompileResultObject(Napi::Env env, const CompileResult& r);

// ---------------------------------------------------------------- context.cc
struct Resource;

struct DeviceState {
  std::shared_ptr<Driver> drv;
  DeviceProps props;
  uint32_t index = 0;
  Handle ctx = nullptr;
  Handle stream = nullptr;
  bool alive = false;
  std::vector<Handle> eventPool;  // free events
  std::vector<Handle> marks;      // timestamp() events of the current round
  std::unordered_set<Resource*> resources;

  ~DeviceState();
  /** Make this context current (every entry point calls it first). */
  void Current() { drv->MakeCurrent(props.ordinal, ctx); }
  Handle TakeEvent();
  /** Synchronize, release every resource, events, stream, then the context. Never throws; idempotent. */
  void Destroy();
};

struct Resource {
  Resource(std::shared_ptr<DeviceState> d, LiveKind k);
  virtual ~Resource();
  /** Free the driver object (if the device is alive) and unregister; idempotent; never throws. */
  void Release();
  std::shared_ptr<DeviceState> dev;
  LiveKind kind;
  bool released = false;

 protected:
  virtual void FreeNative() = 0;
};

struct BufferRes : Resource {
  explicit BufferRes(std::shared_ptr<DeviceState> d) : Resource(std::move(d), kLiveBuffer) {}
  ~BufferRes() override { Release(); }
  DevPtr ptr = 0;
  uint64_t size = 0;

 protected:
  void FreeNative() override;
};

struct ModuleRes : Resource {
  explicit ModuleRes(std::shared_ptr<DeviceState> d) : Resource(std::move(d), kLiveModule) {}
  ~ModuleRes() override { Release(); }
  Handle module = nullptr;

 protected:
  void FreeNative() override;
};

struct AddonData {
  Napi::FunctionReference context, buffer, module, function;
};
AddonData& Addon(Napi::Env env);

class BufferWrap : public Napi::ObjectWrap<BufferWrap> {
 public:
  explicit BufferWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BufferWrap>(info) {}
  std::shared_ptr<BufferRes> res;
  double size = 0;

 private:
  Napi::Value Size(const Napi::CallbackInfo& info);
  Napi::Value Destroy(const Napi::CallbackInfo& info);
  friend Napi::Function DefineBuffer(Napi::Env env);
};

class ModuleWrap : public Napi::ObjectWrap<ModuleWrap> {
 public:
  explicit ModuleWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModuleWrap>(info) {}
  std::shared_ptr<ModuleRes> res;

 private:
  Napi::Value Fn(const Napi::CallbackInfo& info);
  Napi::Value Destroy(const Napi::CallbackInfo& info);
  friend Napi::Function DefineModule(Napi::Env env);
};

class FunctionWrap : public Napi::ObjectWrap<FunctionWrap> {
 public:
  explicit FunctionWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FunctionWrap>(info) {}
  std::shared_ptr<ModuleRes> mod;
  Handle fn = nullptr;
  std::string name;
  FunctionInfo info;
  /** Largest dynamic shared size already allowed with FunctionSetMaxDynamicShared. */
  unsigned sharedAllowed = 48 * 1024;
};

/** A live buffer from a JS value; TypeError if not a GpuBuffer, Error if destroyed or of another Context. */
std::shared_ptr<BufferRes> BufferArg(Napi::Env env, const Napi::Value& v, const std::string& what,
                                     const std::shared_ptr<DeviceState>& st);
/** A KernelFunction of a live module of this Context; TypeError / Error otherwise. */
FunctionWrap& FunctionArg(Napi::Env env, const Napi::Value& v, const std::string& what,
                          const std::shared_ptr<DeviceState>& st);
/** Wrap a loaded module (and its compile log / format) as a JS Module. */
Napi::Value NewModule(Napi::Env env, const std::shared_ptr<DeviceState>& st, Handle module, const std::string& log,
                      const std::string& format);

/** Create the Context JS object for device `index` of GetBackends(). */
Napi::Value NewContext(Napi::Env env, uint32_t index);
Napi::Function DefineContext(Napi::Env env);
Napi::Function DefineBuffer(Napi::Env env);
Napi::Function DefineModule(Napi::Env env);
Napi::Function DefineFunction(Napi::Env env);

}  // namespace hip
}  // namespace kpack
