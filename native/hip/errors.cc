// Driver errors as JS exceptions, JS argument validation and live-object accounting.
#include <atomic>
#include <cmath>

#include "kpack_hip.h"

namespace kpack {
namespace hip {

void ThrowDriver(Napi::Env env, const DriverError& e) {
  Napi::Error err = Napi::Error::New(env, e.what());
  err.Set("api", Napi::String::New(env, e.api));
  err.Set("call", Napi::String::New(env, e.call));
  err.Set("code", Napi::Number::New(env, e.code));
  err.Set("codeName", Napi::String::New(env, e.codeName));
  if (!e.log.empty()) err.Set("log", Napi::String::New(env, e.log));
  throw err;
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

std::string ArgString(Napi::Env env, const Napi::Value& v, const std::string& what) {
  if (!v.IsString()) ThrowType(env, what + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

ByteView ArgBytes(Napi::Env env, const Napi::Value& v, const std::string& what) {
  if (v.IsTypedArray()) {
    Napi::TypedArray ta = v.As<Napi::TypedArray>();
    return {static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset(), ta.ByteLength()};
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

Napi::Object LiveObjects(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("contexts", Napi::Number::New(env, static_cast<double>(g_live[kLiveContext].load())));
  o.Set("buffers", Napi::Number::New(env, static_cast<double>(g_live[kLiveBuffer].load())));
  o.Set("modules", Napi::Number::New(env, static_cast<double>(g_live[kLiveModule].load())));
  return o;
}

}  // namespace hip
}  // namespace kpack
