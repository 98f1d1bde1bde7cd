// The Context JS object: owns a DeviceState and creates buffers, pipelines and sequences on it.
#include "kpack_vulkan.h"

namespace kpack {

Napi::Function ContextWrap::Define(Napi::Env env) {
  return DefineClass(env, "Context",
                     {InstanceMethod<&ContextWrap::CreateBuffer>("createBuffer"),
                      InstanceMethod<&ContextWrap::Upload>("upload"),
                      InstanceMethod<&ContextWrap::Download>("download"),
                      InstanceMethod<&ContextWrap::CreatePipeline>("createPipeline"),
                      InstanceMethod<&ContextWrap::CreateSequence>("createSequence"),
                      InstanceMethod<&ContextWrap::SavePipelineCache>("savePipelineCache"),
                      InstanceMethod<&ContextWrap::Destroy>("destroy")});
}

ContextWrap::ContextWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ContextWrap>(info) {}

// Dropping the last reference (no live children) destroys the device.
ContextWrap::~ContextWrap() { st.reset(); }

DeviceState& ContextWrap::State(Napi::Env env) {
  if (!st || !st->alive) ThrowError(env, "Context used after destroy()");
  return *st;
}

Napi::Value ContextWrap::CreateBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  State(env);
  uint64_t bytes = ArgU64(env, info[0], "createBuffer: bytes");
  if (bytes == 0) ThrowRange(env, "createBuffer: bytes must be > 0");
  bool hostVisible = false;
  if (info.Length() > 1 && !info[1].IsUndefined() && !info[1].IsNull()) {
    if (!info[1].IsObject()) ThrowType(env, "createBuffer: options must be an object");
    Napi::Value hv = info[1].As<Napi::Object>().Get("hostVisible");
    hostVisible = hv.IsBoolean() && hv.As<Napi::Boolean>().Value();
  }
  return NewBuffer(env, st, bytes, hostVisible);
}

Napi::Value ContextWrap::Upload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  DeviceState& s = State(env);
  std::shared_ptr<BufferRes> b = BufferArg(env, info[0], "upload: buffer");
  if (b->dev != st) ThrowError(env, "upload: buffer belongs to another Context");
  ByteView data = ArgBytes(env, info[1], "upload: data");
  uint64_t offset = ArgU64Opt(env, info[2], "upload: offset", 0);
  UploadBytes(env, s, *b, data.data, data.size, offset);
  return env.Undefined();
}

Napi::Value ContextWrap::Download(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  DeviceState& s = State(env);
  std::shared_ptr<BufferRes> b = BufferArg(env, info[0], "download: buffer");
  if (b->dev != st) ThrowError(env, "download: buffer belongs to another Context");
  uint64_t offset = ArgU64(env, info[1], "download: offset");
  uint64_t bytes = ArgU64(env, info[2], "download: bytes");
  if (offset > b->size || bytes > b->size - offset)
    ThrowRange(env, "download: range [" + std::to_string(offset) + ", " + std::to_string(offset + bytes) +
                        ") exceeds the buffer size " + std::to_string(b->size));
  Napi::ArrayBuffer out = Napi::ArrayBuffer::New(env, bytes);
  DownloadBytes(env, s, *b, static_cast<uint8_t*>(out.Data()), bytes, offset);
  return out;
}

Napi::Value ContextWrap::CreatePipeline(const Napi::CallbackInfo& info) {
  State(info.Env());
  return NewPipeline(info.Env(), st, info[0]);
}

Napi::Value ContextWrap::CreateSequence(const Napi::CallbackInfo& info) {
  State(info.Env());
  return NewSequence(info.Env(), st);
}

Napi::Value ContextWrap::SavePipelineCache(const Napi::CallbackInfo& info) {
  kpack::SavePipelineCache(info.Env(), State(info.Env()));
  return info.Env().Undefined();
}

Napi::Value ContextWrap::Destroy(const Napi::CallbackInfo& info) {
  if (st) st->Destroy();
  return info.Env().Undefined();
}

}  // namespace kpack
