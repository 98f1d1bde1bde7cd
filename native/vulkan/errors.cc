// Error reporting, JS argument validation and live-object accounting.
#include <atomic>
#include <cmath>

#include "kpack_vulkan.h"

namespace kpack {

const char* VkResultName(VkResult r) {
  switch (r) {
#define KPACK_CASE(x) \
  case x:             \
    return #x;
    KPACK_CASE(VK_SUCCESS)
    KPACK_CASE(VK_NOT_READY)
    KPACK_CASE(VK_TIMEOUT)
    KPACK_CASE(VK_EVENT_SET)
    KPACK_CASE(VK_EVENT_RESET)
    KPACK_CASE(VK_INCOMPLETE)
    KPACK_CASE(VK_ERROR_OUT_OF_HOST_MEMORY)
    KPACK_CASE(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    KPACK_CASE(VK_ERROR_INITIALIZATION_FAILED)
    KPACK_CASE(VK_ERROR_DEVICE_LOST)
    KPACK_CASE(VK_ERROR_MEMORY_MAP_FAILED)
    KPACK_CASE(VK_ERROR_LAYER_NOT_PRESENT)
    KPACK_CASE(VK_ERROR_EXTENSION_NOT_PRESENT)
    KPACK_CASE(VK_ERROR_FEATURE_NOT_PRESENT)
    KPACK_CASE(VK_ERROR_INCOMPATIBLE_DRIVER)
    KPACK_CASE(VK_ERROR_TOO_MANY_OBJECTS)
    KPACK_CASE(VK_ERROR_FORMAT_NOT_SUPPORTED)
    KPACK_CASE(VK_ERROR_FRAGMENTED_POOL)
    KPACK_CASE(VK_ERROR_UNKNOWN)
    KPACK_CASE(VK_ERROR_OUT_OF_POOL_MEMORY)
    KPACK_CASE(VK_ERROR_INVALID_EXTERNAL_HANDLE)
    KPACK_CASE(VK_ERROR_FRAGMENTATION)
    KPACK_CASE(VK_ERROR_INVALID_OPAQUE_CAPTURE_ADDRESS)
    KPACK_CASE(VK_PIPELINE_COMPILE_REQUIRED)
    KPACK_CASE(VK_ERROR_INVALID_SHADER_NV)
    KPACK_CASE(VK_ERROR_NOT_PERMITTED_KHR)
#undef KPACK_CASE
    default:
      return nullptr;
  }
}

static std::string ResultString(VkResult r) {
  const char* n = VkResultName(r);
  return n ? std::string(n) : "VkResult(" + std::to_string(static_cast<int>(r)) + ")";
}

void ThrowVk(Napi::Env env, const char* call, VkResult r, const std::string& detail) {
  std::string msg = std::string(call) + " failed: " + ResultString(r);
  if (!detail.empty()) msg += " (" + detail + ")";
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("vkResult", Napi::String::New(env, ResultString(r)));
  e.Set("vkCall", Napi::String::New(env, call));
  throw e;
}

void ThrowType(Napi::Env env, const std::string& msg) { throw Napi::TypeError::New(env, msg); }
void ThrowRange(Napi::Env env, const std::string& msg) { throw Napi::RangeError::New(env, msg); }
void ThrowError(Napi::Env env, const std::string& msg) { throw Napi::Error::New(env, msg); }

uint64_t ArgU64(Napi::Env env, const Napi::Value& v, const std::string& what) {
  if (!v.IsNumber()) ThrowType(env, what + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d < 0 || std::floor(d) != d || d > 9007199254740992.0)
    ThrowType(env, what + " must be a non-negative integer (got " + std::to_string(d) + ")");
  return static_cast<uint64_t>(d);
}

uint64_t ArgU64Opt(Napi::Env env, const Napi::Value& v, const std::string& what, uint64_t def) {
  if (v.IsUndefined() || v.IsNull()) return def;
  return ArgU64(env, v, what);
}

uint32_t ArgU32(Napi::Env env, const Napi::Value& v, const std::string& what) {
  uint64_t x = ArgU64(env, v, what);
  if (x > 0xFFFFFFFFull) ThrowType(env, what + " must fit in 32 bits");
  return static_cast<uint32_t>(x);
}

ByteView ArgBytes(Napi::Env env, const Napi::Value& v, const std::string& what) {
  if (v.IsTypedArray()) {
    Napi::TypedArray ta = v.As<Napi::TypedArray>();
    Napi::ArrayBuffer ab = ta.ArrayBuffer();
    return {static_cast<const uint8_t*>(ab.Data()) + ta.ByteOffset(), ta.ByteLength()};
  }
  if (v.IsDataView()) {
    Napi::DataView dv = v.As<Napi::DataView>();
    return {static_cast<const uint8_t*>(dv.ArrayBuffer().Data()) + dv.ByteOffset(), dv.ByteLength()};
  }
  if (v.IsArrayBuffer()) {
    Napi::ArrayBuffer ab = v.As<Napi::ArrayBuffer>();
    return {static_cast<const uint8_t*>(ab.Data()), ab.ByteLength()};
  }
  ThrowType(env, what + " must be an ArrayBufferView (e.g. Uint8Array) or ArrayBuffer");
}

static std::atomic<int64_t> g_live[kLiveKinds];

void LiveAdd(LiveKind k, int delta) { g_live[k] += delta; }
int64_t LiveCount(LiveKind k) { return g_live[k].load(); }

Napi::Object LiveObjects(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("contexts", Napi::Number::New(env, static_cast<double>(g_live[kLiveContext].load())));
  o.Set("buffers", Napi::Number::New(env, static_cast<double>(g_live[kLiveBuffer].load())));
  o.Set("pipelines", Napi::Number::New(env, static_cast<double>(g_live[kLivePipeline].load())));
  o.Set("sequences", Napi::Number::New(env, static_cast<double>(g_live[kLiveSequence].load())));
  return o;
}

}  // namespace kpack
