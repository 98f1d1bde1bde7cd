// Run-time compilation: NVRTC for 'cuda' (HIP source through the prelude), hiprtc for 'hip'.
#include <cstring>

#include "kpack_hip.h"

namespace kpack {
namespace hip {

static std::string& Prelude() {
  static std::string text;
  return text;
}

void SetPrelude(const std::string& text) { Prelude() = text; }

CompileRequest ParseCompileArgs(Napi::Env env, const Napi::Value& source, const Napi::Value& opts, const char* fn) {
  const std::string f(fn);
  CompileRequest req;
  req.source = ArgString(env, source, f + ": source");
  if (opts.IsUndefined() || opts.IsNull()) return req;
  if (!opts.IsObject()) ThrowType(env, f + ": options must be an object");
  Napi::Object o = opts.As<Napi::Object>();
  Napi::Value name = o.Get("name");
  if (!name.IsUndefined()) req.name = ArgString(env, name, f + ": options.name");
  Napi::Value defs = o.Get("defines");
  if (!defs.IsUndefined() && !defs.IsNull()) {
    if (!defs.IsObject() || defs.IsArray()) ThrowType(env, f + ": options.defines must be { NAME: value }");
    Napi::Object d = defs.As<Napi::Object>();
    Napi::Array keys = d.GetPropertyNames();
    for (uint32_t i = 0; i < keys.Length(); i++) {
      std::string k = keys.Get(i).As<Napi::String>().Utf8Value();
      Napi::Value v = d.Get(k);
      std::string val;
      if (v.IsNumber()) val = v.ToString().Utf8Value();
      else if (v.IsBoolean()) val = v.As<Napi::Boolean>().Value() ? "1" : "0";
      else if (v.IsString()) val = v.As<Napi::String>().Utf8Value();
      else ThrowType(env, f + ": options.defines." + k + " must be a number, boolean or string");
      req.options.push_back("-D" + k + "=" + val);
    }
  }
  Napi::Value op = o.Get("options");
  if (!op.IsUndefined() && !op.IsNull()) {
    if (!op.IsArray()) ThrowType(env, f + ": options.options must be an array of strings");
    Napi::Array a = op.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++)
      req.options.push_back(ArgString(env, a.Get(i), f + ": options.options[" + std::to_string(i) + "]"));
  }
  Napi::Value hd = o.Get("headers");
  if (!hd.IsUndefined() && !hd.IsNull()) {
    if (!hd.IsObject() || hd.IsArray()) ThrowType(env, f + ": options.headers must be { 'name.h': text }");
    Napi::Object h = hd.As<Napi::Object>();
    Napi::Array keys = h.GetPropertyNames();
    for (uint32_t i = 0; i < keys.Length(); i++) {
      std::string k = keys.Get(i).As<Napi::String>().Utf8Value();
      req.headers.push_back({k, ArgString(env, h.Get(k), f + ": options.headers['" + k + "']")});
    }
  }
  return req;
}

CompileResult RunCompile(Napi::Env env, const std::string& api, const std::string& arch, int warpSize,
                         const CompileRequest& req) {
  std::string why;
  const bool cuda = api == "cuda";
  std::shared_ptr<Compiler> c = cuda ? LoadNvrtc(&why) : LoadHiprtc(&why);
  if (!c) ThrowError(env, why);
  std::vector<std::string> opts;
  HeaderList headers = req.headers;
  std::string name = req.name.empty() ? (cuda ? "kernel.cu" : "kernel.hip") : req.name;
  std::string source;
  if (cuda) {
    // HIP device code under NVRTC: functions default to __device__, C++17 (the templates' dialect),
    // the prelude first and #line so compiler messages point into the caller's source.
    opts = {"-default-device", "--std=c++17", "-DKPACK_NVRTC=1"};
    if (Prelude().empty()) ThrowError(env, "compile: the HIP-to-CUDA prelude is not set (load the addon through native/hip/index.ts)");
    source = Prelude() + "\n#line 1 \"" + name + "\"\n" + req.source;
  } else {
    opts = {"-std=c++17", "-DKPACK_HIPRTC=1"};
    source = req.source;
  }
  // #include <hip/hip_runtime.h> / <hip/hip_fp16.h> resolve to nothing: hiprtc predefines what they
  // declare (and a system ROCm's copies clash with its built-ins), the prelude does under NVRTC.
  for (const char* h : {"hip/hip_runtime.h", "hip/hip_fp16.h", "hip/hip_runtime_api.h"}) {
    bool given = false;
    for (const auto& x : headers) given = given || x.first == h;
    if (!given) headers.push_back({h, "#pragma once\n"});
  }
  opts.push_back("-DKPACK_WARP_SIZE=" + std::to_string(warpSize));
  opts.insert(opts.end(), req.options.begin(), req.options.end());
  return c->Compile(source, name, arch, opts, headers);
}

Napi::Object CompileResultObject(Napi::Env env, const CompileResult& r) {
  Napi::Object o = Napi::Object::New(env);
  Napi::Uint8Array bin = Napi::Uint8Array::New(env, r.binary.size());
  if (!r.binary.empty()) std::memcpy(bin.Data(), r.binary.data(), r.binary.size());
  o.Set("binary", bin);
  o.Set("format", Napi::String::New(env, r.format));
  o.Set("log", Napi::String::New(env, r.log));
  Napi::Array opts = Napi::Array::New(env, r.options.size());
  for (uint32_t i = 0; i < r.options.size(); i++) opts.Set(i, Napi::String::New(env, r.options[i]));
  o.Set("options", opts);
  return o;
}

}  // namespace hip
}  // namespace kpack
