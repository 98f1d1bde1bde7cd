// Module init: listDevices(), createContext(), liveObjects().
#include "kpack_vulkan.h"

namespace kpack {

AddonData& Addon(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

/** listDevices(): DeviceInfo[] for every physical device; Error when Vulkan or devices are missing. */
static Napi::Value ListDevices(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<VkPhysicalDevice> devs = EnumerateDevices(env);
  Napi::Array out = Napi::Array::New(env, devs.size());
  for (uint32_t i = 0; i < devs.size(); i++) {
    DeviceCaps caps;
    QueryCaps(env, i, devs[i], caps);
    out.Set(i, DeviceInfoObject(env, caps));
  }
  return out;
}

/** createContext(deviceIndex, { pipelineCachePath? }): a Context on that device. */
static Napi::Value CreateContext(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t index = ArgU32(env, info[0], "createContext: deviceIndex");
  std::string cachePath;
  if (!info[1].IsUndefined() && !info[1].IsNull()) {
    if (!info[1].IsObject()) ThrowType(env, "createContext: options must be an object");
    Napi::Value p = info[1].As<Napi::Object>().Get("pipelineCachePath");
    if (!p.IsUndefined() && !p.IsNull()) {
      if (!p.IsString()) ThrowType(env, "createContext: options.pipelineCachePath must be a string");
      cachePath = p.As<Napi::String>().Utf8Value();
    }
  }
  std::shared_ptr<DeviceState> st = CreateDeviceState(env, index, cachePath);
  Napi::Object obj = Addon(env).context.New({});
  ContextWrap::Unwrap(obj)->st = st;
  auto ro = static_cast<napi_property_attributes>(napi_enumerable);
  obj.DefineProperties({
      Napi::PropertyDescriptor::Value("device", DeviceInfoObject(env, *st->caps), ro),
      Napi::PropertyDescriptor::Value("pushDescriptors", Napi::Boolean::New(env, st->pushDescriptors), ro),
      Napi::PropertyDescriptor::Value("pipelineCacheLoaded", Napi::Boolean::New(env, st->cacheLoaded), ro),
  });
  return obj;
}

static Napi::Value LiveObjectsFn(const Napi::CallbackInfo& info) { return LiveObjects(info.Env()); }

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  AddonData* data = new AddonData();
  data->context = Napi::Persistent(ContextWrap::Define(env));
  data->buffer = Napi::Persistent(BufferWrap::Define(env));
  data->pipeline = Napi::Persistent(PipelineWrap::Define(env));
  data->sequence = Napi::Persistent(DefineSequence(env));
  env.SetInstanceData<AddonData>(data);
  env.AddCleanupHook([]() { ShutdownInstance(); });
  exports.Set("listDevices", Napi::Function::New(env, ListDevices, "listDevices"));
  exports.Set("createContext", Napi::Function::New(env, CreateContext, "createContext"));
  exports.Set("liveObjects", Napi::Function::New(env, LiveObjectsFn, "liveObjects"));
  return exports;
}

}  // namespace kpack

static Napi::Object InitAll(Napi::Env env, Napi::Object exports) { return kpack::Init(env, exports); }

NODE_API_MODULE(kpack_vulkan, InitAll)
