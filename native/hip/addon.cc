// Module init and the device registry: available(), listDevices(), createContext(), compile(),
// setPrelude(), liveObjects(). Nothing is dlopen'ed until one of them is called.
#include "kpack_hip.h"

namespace kpack {
namespace hip {

AddonData& Addon(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

// Providers in the order of $KPACK_HIP_PROVIDERS (default "cuda,hip"); device indices follow it.
const Backends& GetBackends() {
  static Backends b;
  static bool loaded = false;
  if (loaded) return b;
  loaded = true;
  std::string order = Env("KPACK_HIP_PROVIDERS");
  if (order.empty()) order = "cuda,hip";
  b.cudaWhy = "disabled by KPACK_HIP_PROVIDERS";
  b.hipWhy = b.cudaWhy;
  size_t pos = 0;
  while (pos <= order.size()) {
    size_t comma = order.find(',', pos);
    std::string name = order.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    pos = comma == std::string::npos ? order.size() + 1 : comma + 1;
    if (name != "cuda" && name != "hip") continue;
    std::string why;
    std::shared_ptr<Driver> d = name == "cuda" ? LoadCudaDriver(&why) : LoadHipDriver(&why);
    bool& ok = name == "cuda" ? b.cudaOk : b.hipOk;
    std::string& reason = name == "cuda" ? b.cudaWhy : b.hipWhy;
    reason = why;
    if (!d) continue;
    try {
      int n = d->DeviceCount();
      for (int i = 0; i < n; i++) b.devices.push_back({d, d->Props(i)});
      ok = n > 0;
      if (n == 0) reason = std::string(d->Api()) + " driver loaded but reports no device";
    } catch (const DriverError& e) {
      reason = e.what();
    }
  }
  if (b.devices.empty()) b.reason = "HIP back-end unavailable: cuda: " + b.cudaWhy + "; hip: " + b.hipWhy;
  return b;
}

Napi::Object DeviceInfoObject(Napi::Env env, uint32_t index, const DeviceProps& p) {
  Napi::Object o = Napi::Object::New(env);
  auto num = [&](double v) { return Napi::Number::New(env, v); };
  o.Set("index", num(index));
  o.Set("api", Napi::String::New(env, p.api));
  o.Set("ordinal", num(p.ordinal));
  o.Set("name", Napi::String::New(env, p.name));
  o.Set("arch", Napi::String::New(env, p.arch));
  o.Set("archFull", Napi::String::New(env, p.archFull));
  Napi::Array cc = Napi::Array::New(env, 2);
  cc.Set(0u, num(p.ccMajor));
  cc.Set(1u, num(p.ccMinor));
  o.Set("computeCapability", cc);
  o.Set("warpSize", num(p.warpSize));
  o.Set("multiprocessorCount", num(p.multiprocessorCount));
  o.Set("maxThreadsPerBlock", num(p.maxThreadsPerBlock));
  o.Set("sharedMemPerBlock", num(static_cast<double>(p.sharedMemPerBlock)));
  o.Set("sharedMemPerBlockOptin", num(static_cast<double>(p.sharedMemPerBlockOptin)));
  o.Set("totalMem", num(static_cast<double>(p.totalMem)));
  o.Set("driverVersion", Napi::String::New(env, p.driverVersion));
  return o;
}

static Napi::Object Status(Napi::Env env, bool ok, const std::string& reason) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("ok", Napi::Boolean::New(env, ok));
  o.Set("reason", Napi::String::New(env, reason));
  return o;
}

/** available(): { ok, reason, cuda, hip, nvrtc, hiprtc } (each { ok, reason }); never throws. */
static Napi::Value Available(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Backends& b = GetBackends();
  Napi::Object o = Status(env, !b.devices.empty(),
                          b.devices.empty() ? b.reason : std::to_string(b.devices.size()) + " device(s)");
  o.Set("cuda", Status(env, b.cudaOk, b.cudaWhy));
  o.Set("hip", Status(env, b.hipOk, b.hipWhy));
  std::string why;
  std::shared_ptr<Compiler> nv = LoadNvrtc(&why);
  o.Set("nvrtc", Status(env, nv != nullptr, nv ? "NVRTC " + nv->Version() : why));
  std::shared_ptr<Compiler> hr = LoadHiprtc(&why);
  o.Set("hiprtc", Status(env, hr != nullptr, hr ? "hiprtc " + hr->Version() : why));
  return o;
}

/** listDevices(): DeviceInfo[]; Error "HIP back-end unavailable: ..." when there is none. */
static Napi::Value ListDevices(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Backends& b = GetBackends();
  if (b.devices.empty()) ThrowError(env, b.reason);
  Napi::Array out = Napi::Array::New(env, b.devices.size());
  for (uint32_t i = 0; i < b.devices.size(); i++) out.Set(i, DeviceInfoObject(env, i, b.devices[i].props));
  return out;
}

/** createContext(index): a Context on device `index` of listDevices(). */
static Napi::Value CreateContext(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t index = ArgU32(env, info[0], "createContext: deviceIndex");
  const Backends& b = GetBackends();
  if (b.devices.empty()) ThrowError(env, b.reason);
  if (index >= b.devices.size())
    ThrowRange(env, "createContext: deviceIndex " + std::to_string(index) + " out of range (" +
                        std::to_string(b.devices.size()) + " device(s))");
  return NewContext(env, index);
}

/** compile(source, { api, arch, warpSize?, name?, defines?, options?, headers? }): offline, no device. */
static Napi::Value Compile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[1].IsObject()) ThrowType(env, "compile: options { api, arch } required");
  Napi::Object o = info[1].As<Napi::Object>();
  std::string api = ArgString(env, o.Get("api"), "compile: options.api");
  if (api != "cuda" && api != "hip") ThrowType(env, "compile: options.api must be 'cuda' or 'hip'");
  std::string arch = ArgString(env, o.Get("arch"), "compile: options.arch");
  int warp = api == "cuda" ? 32 : (arch.rfind("gfx9", 0) == 0 ? 64 : 32);  // GCN/CDNA wave64, RDNA wave32
  warp = static_cast<int>(ArgU64Opt(env, o.Get("warpSize"), "compile: options.warpSize", warp));
  CompileRequest req = ParseCompileArgs(env, info[0], info[1], "compile");
  return Guard(env, [&]() -> Napi::Value { return CompileResultObject(env, RunCompile(env, api, arch, warp, req)); });
}

static Napi::Value SetPreludeFn(const Napi::CallbackInfo& info) {
  SetPrelude(ArgString(info.Env(), info[0], "setPrelude: text"));
  return info.Env().Undefined();
}

static Napi::Value LiveObjectsFn(const Napi::CallbackInfo& info) { return LiveObjects(info.Env()); }

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  AddonData* data = new AddonData();
  data->context = Napi::Persistent(DefineContext(env));
  data->buffer = Napi::Persistent(DefineBuffer(env));
  data->module = Napi::Persistent(DefineModule(env));
  data->function = Napi::Persistent(DefineFunction(env));
  env.SetInstanceData<AddonData>(data);
  exports.Set("available", Napi::Function::New(env, Available, "available"));
  exports.Set("listDevices", Napi::Function::New(env, ListDevices, "listDevices"));
  exports.Set("createContext", Napi::Function::New(env, CreateContext, "createContext"));
  exports.Set("compile", Napi::Function::New(env, Compile, "compile"));
  exports.Set("setPrelude", Napi::Function::New(env, SetPreludeFn, "setPrelude"));
  exports.Set("liveObjects", Napi::Function::New(env, LiveObjectsFn, "liveObjects"));
  return exports;
}

}  // namespace hip
}  // namespace kpack

static Napi::Object InitAll(Napi::Env env, Napi::Object exports) { return kpack::hip::Init(env, exports); }

NODE_API_MODULE(kpack_hip, InitAll)
