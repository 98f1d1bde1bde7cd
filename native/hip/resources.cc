// DeviceState and the driver-owning resources (buffers, modules) with their JS wrappers.
#include "kpack_hip.h"

namespace kpack {
namespace hip {

DeviceState::~DeviceState() { Destroy(); }

Handle DeviceState::TakeEvent() {
  if (!eventPool.empty()) {
    Handle e = eventPool.back();
    eventPool.pop_back();
    return e;
  }
  return drv->EventCreate();
}

void DeviceState::Destroy() {
  if (!alive) return;
  try {
    Current();
    drv->StreamSync(stream);
  } catch (const DriverError&) {
    // a sticky error (illegal address ...): free what can be freed anyway
  }
  std::vector<Resource*> all(resources.begin(), resources.end());
  for (Resource* r : all) r->Release();
  resources.clear();
  auto quiet = [](auto&& f) {
    try {
      f();
    } catch (const DriverError&) {
    }
  };
  for (Handle e : marks) eventPool.push_back(e);
  marks.clear();
  for (Handle e : eventPool) quiet([&] { drv->EventDestroy(e); });
  eventPool.clear();
  if (stream) quiet([&] { drv->StreamDestroy(stream); });
  stream = nullptr;
  quiet([&] { drv->Close(props.ordinal, ctx); });
  ctx = nullptr;
  alive = false;
  LiveAdd(kLiveContext, -1);
}

Resource::Resource(std::shared_ptr<DeviceState> d, LiveKind k) : dev(std::move(d)), kind(k) {
  dev->resources.insert(this);
  LiveAdd(kind, 1);
}

Resource::~Resource() {}

void Resource::Release() {
  if (released) return;
  released = true;
  if (dev->alive) {
    try {
      dev->Current();
      FreeNative();
    } catch (const DriverError&) {
    }
  }
  dev->resources.erase(this);
  LiveAdd(kind, -1);
}

void BufferRes::FreeNative() {
  if (!ptr) return;
  dev->drv->StreamSync(dev->stream);  // launches still in flight may read it
  dev->drv->Free(ptr);
  ptr = 0;
}

void ModuleRes::FreeNative() {
  if (!module) return;
  dev->drv->StreamSync(dev->stream);
  dev->drv->ModuleUnload(module);
  module = nullptr;
}

// ---------------------------------------------------------------- GpuBuffer
Napi::Value BufferWrap::Size(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), size); }

Napi::Value BufferWrap::Destroy(const Napi::CallbackInfo& info) {
  if (res) res->Release();
  res.reset();
  return info.Env().Undefined();
}

Napi::Function DefineBuffer(Napi::Env env) {
  return BufferWrap::DefineClass(env, "GpuBuffer",
                                 {BufferWrap::InstanceAccessor<&BufferWrap::Size>("size", napi_enumerable),
                                  BufferWrap::InstanceMethod<&BufferWrap::Destroy>("destroy")});
}

std::shared_ptr<BufferRes> BufferArg(Napi::Env env, const Napi::Value& v, const std::string& what,
                                     const std::shared_ptr<DeviceState>& st) {
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(Addon(env).buffer.Value()))
    ThrowType(env, what + " must be a GpuBuffer");
  BufferWrap* w = BufferWrap::Unwrap(v.As<Napi::Object>());
  if (!w->res) ThrowError(env, what + ": GpuBuffer used after destroy()");
  if (w->res->released) ThrowError(env, what + ": GpuBuffer used after its Context was destroyed");
  if (w->res->dev != st) ThrowError(env, what + ": buffer belongs to another Context");
  return w->res;
}

// ---------------------------------------------------------------- Module / KernelFunction
Napi::Value NewModule(Napi::Env env, const std::shared_ptr<DeviceState>& st, Handle module, const std::string& log,
                      const std::string& format) {
  auto res = std::make_shared<ModuleRes>(st);
  res->module = module;
  Napi::Object obj = Addon(env).module.New({});
  ModuleWrap::Unwrap(obj)->res = res;
  auto ro = static_cast<napi_property_attributes>(napi_enumerable);
  obj.DefineProperties({Napi::PropertyDescriptor::Value("log", Napi::String::New(env, log), ro),
                        Napi::PropertyDescriptor::Value("format", Napi::String::New(env, format), ro)});
  return obj;
}

// fn(name): the kernel `name` (an extern "C" __global__ function) with its attributes.
Napi::Value ModuleWrap::Fn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = ArgString(env, info[0], "Module.fn: name");
  if (!res) ThrowError(env, "Module.fn: Module used after destroy()");
  if (res->released) ThrowError(env, "Module.fn: Module used after its Context was destroyed");
  return Guard(env, [&]() -> Napi::Value {
    res->dev->Current();
    Handle f = res->dev->drv->FunctionGet(res->module, name);
    FunctionInfo fi = res->dev->drv->FunctionQuery(f);
    Napi::Object obj = Addon(env).function.New({});
    FunctionWrap* w = FunctionWrap::Unwrap(obj);
    w->mod = res;
    w->fn = f;
    w->name = name;
    w->info = fi;
    Napi::Object io = Napi::Object::New(env);
    io.Set("maxThreadsPerBlock", Napi::Number::New(env, fi.maxThreadsPerBlock));
    io.Set("registers", Napi::Number::New(env, fi.registers));
    io.Set("staticSharedBytes", Napi::Number::New(env, fi.staticSharedBytes));
    io.Set("localBytes", Napi::Number::New(env, fi.localBytes));
    if (fi.paramsKnown) {
      Napi::Array ps = Napi::Array::New(env, fi.paramSizes.size());
      for (uint32_t i = 0; i < fi.paramSizes.size(); i++) ps.Set(i, Napi::Number::New(env, static_cast<double>(fi.paramSizes[i])));
      io.Set("paramSizes", ps);
    }
    auto ro = static_cast<napi_property_attributes>(napi_enumerable);
    obj.DefineProperties({Napi::PropertyDescriptor::Value("name", Napi::String::New(env, name), ro),
                          Napi::PropertyDescriptor::Value("info", io, ro)});
    return obj;
  });
}

Napi::Value ModuleWrap::Destroy(const Napi::CallbackInfo& info) {
  if (res) res->Release();
  res.reset();
  return info.Env().Undefined();
}

Napi::Function DefineModule(Napi::Env env) {
  return ModuleWrap::DefineClass(env, "Module",
                                 {ModuleWrap::InstanceMethod<&ModuleWrap::Fn>("fn"),
                                  ModuleWrap::InstanceMethod<&ModuleWrap::Destroy>("destroy")});
}

Napi::Function DefineFunction(Napi::Env env) { return FunctionWrap::DefineClass(env, "KernelFunction", {}); }

FunctionWrap& FunctionArg(Napi::Env env, const Napi::Value& v, const std::string& what,
                          const std::shared_ptr<DeviceState>& st) {
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(Addon(env).function.Value()))
    ThrowType(env, what + " must be a KernelFunction (from module.fn(name))");
  FunctionWrap* w = FunctionWrap::Unwrap(v.As<Napi::Object>());
  if (!w->mod || w->mod->released) ThrowError(env, what + ": its Module was destroyed");
  if (w->mod->dev != st) ThrowError(env, what + ": function belongs to another Context");
  return *w;
}

}  // namespace hip
}  // namespace kpack
