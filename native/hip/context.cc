// The Context JS object: buffers, transfers, compile / load, launches, timing on one device and stream.
#include <cmath>
#include <cstring>

#include "kpack_hip.h"

namespace kpack {
namespace hip {

static const size_t kMaxMarks = 4096;

class ContextWrap : public Napi::ObjectWrap<ContextWrap> {
 public:
  explicit ContextWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ContextWrap>(info) {}
  ~ContextWrap() override { st.reset(); }  // the last reference (no live children) destroys the context
  std::shared_ptr<DeviceState> st;

  DeviceState& Live(Napi::Env env, const char* fn) {
    if (!st || !st->alive) ThrowError(env, std::string("Context.") + fn + ": Context used after destroy()");
    return *st;
  }

  Napi::Value CreateBuffer(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    DeviceState& s = Live(env, "createBuffer");
    uint64_t bytes = ArgU64(env, info[0], "createBuffer: bytes");
    if (bytes == 0) ThrowRange(env, "createBuffer: bytes must be > 0");
    return Guard(env, [&]() -> Napi::Value {
      s.Current();
      auto res = std::make_shared<BufferRes>(st);
      res->ptr = s.drv->Alloc(bytes);
      res->size = bytes;
      Napi::Object obj = Addon(env).buffer.New({});
      BufferWrap* w = BufferWrap::Unwrap(obj);
      w->res = res;
      w->size = static_cast<double>(bytes);
      return obj;
    });
  }

  static void CheckRange(Napi::Env env, const char* fn, uint64_t offset, uint64_t bytes, uint64_t size) {
    if (offset > size || bytes > size - offset)
      ThrowRange(env, std::string(fn) + ": range [" + std::to_string(offset) + ", " + std::to_string(offset + bytes) +
                          ") exceeds the buffer size " + std::to_string(size));
  }

  Napi::Value Upload(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    DeviceState& s = Live(env, "upload");
    std::shared_ptr<BufferRes> b = BufferArg(env, info[0], "upload: buffer", st);
    ByteView data = ArgBytes(env, info[1], "upload: data");
    uint64_t offset = ArgU64Opt(env, info[2], "upload: offset", 0);
    CheckRange(env, "upload", offset, data.size, b->size);
    if (data.size == 0) return env.Undefined();
    return Guard(env, [&]() -> Napi::Value {
      s.Current();
      s.drv->CopyHtoD(b->ptr + offset, data.data, data.size, s.stream);
      s.drv->StreamSync(s.stream);
      return env.Undefined();
    });
  }

  Napi::Value Download(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    DeviceState& s = Live(env, "download");
    std::shared_ptr<BufferRes> b = BufferArg(env, info[0], "download: buffer", st);
    uint64_t offset = ArgU64(env, info[1], "download: offset");
    uint64_t bytes = ArgU64(env, info[2], "download: bytes");
    CheckRange(env, "download", offset, bytes, b->size);
    Napi::ArrayBuffer out = Napi::ArrayBuffer::New(env, bytes);
    if (bytes == 0) return out;
    return Guard(env, [&]() -> Napi::Value {
      s.Current();
      s.drv->CopyDtoH(out.Data(), b->ptr + offset, bytes, s.stream);
      s.drv->StreamSync(s.stream);
      return out;
    });
  }

  // fill(buffer, value, offset?, bytes?): a 32-bit pattern, enqueued in stream order.
  Napi::Value Fill(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    DeviceState& s = Live(env, "fill");
    std::shared_ptr<BufferRes> b = BufferArg(env, info[0], "fill: buffer", st);
    if (!info[1].IsNumber()) ThrowType(env, "fill: value must be a number (32-bit pattern)");
    double v = info[1].As<Napi::Number>().DoubleValue();
    if (!std::isfinite(v) || std::floor(v) != v || v < -2147483648.0 || v > 4294967295.0)
      ThrowType(env, "fill: value must be an integer in [-2^31, 2^32)");
    uint32_t pattern = static_cast<uint32_t>(static_cast<int64_t>(v));
    uint64_t off = ArgU64Opt(env, info[2], "fill: offset", 0);
    bool whole = info[3].IsUndefined() || info[3].IsNull();
    uint64_t bytes = whole ? (off <= b->size ? (b->size - off) & ~3ull : 0) : ArgU64(env, info[3], "fill: bytes");
    if (off % 4 || bytes % 4) ThrowRange(env, "fill: offset and bytes must be multiples of 4");
    CheckRange(env, "fill", off, bytes, b->size);
    if (bytes == 0) return env.Undefined();
    return Guard(env, [&]() -> Napi::Value {
      s.Current();
      s.drv->Fill32(b->ptr + off, pattern, bytes / 4, s.stream);
      return env.Undefined();
    });
  }

  Napi::Value Compile(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    DeviceState& s = Live(env, "compile");
    CompileRequest req = ParseCompileArgs(env, info[0], info[1], "compile");
    return Guard(env, [&]() -> Napi::Value {
      const std::string arch = s.props.api == "cuda" ? s.props.arch : s.props.archFull;
      CompileResult r = RunCompile(env, s.props.api, arch, s.props.warpSize, req);
      s.Current();
      Handle m = s.drv->ModuleLoad(r.binary);
      return NewModule(env, st, m, r.log, r.format);
    });
  }

  Napi::Value LoadModule(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    DeviceState& s = Live(env, "loadModule");
    ByteView bytes = ArgBytes(env, info[0], "loadModule: image");
    if (bytes.size == 0) ThrowRange(env, "loadModule: image is empty");
    std::vector<uint8_t> img(bytes.data, bytes.data + bytes.size);
    return Guard(env, [&]() -> Napi::Value {
      s.Current();
      Handle m = s.drv->ModuleLoad(img);
      return NewModule(env, st, m, "", "binary");
    });
  }

  struct LaunchArgs {
    unsigned grid[3], block[3];
    unsigned shared = 0;
    std::vector<uint64_t> slots;
    std::vector<void*> ptrs;
    std::vector<std::shared_ptr<BufferRes>> keep;
  };

  // Parse (fn, grid, block, args, ...) with the checks the driver would only answer with INVALID_VALUE.
  LaunchArgs ParseLaunch(Napi::Env env, const Napi::CallbackInfo& info, FunctionWrap& f, const Napi::Value& sharedV,
                         const char* fn) {
    const std::string p(fn);
    LaunchArgs la;
    for (int k = 0; k < 2; k++) {
      const Napi::Value& v = info[1 + k];
      const char* what = k == 0 ? "grid" : "block";
      if (!v.IsArray() || v.As<Napi::Array>().Length() != 3) ThrowType(env, p + ": " + what + " must be [x, y, z]");
      unsigned* dst = k == 0 ? la.grid : la.block;
      for (uint32_t i = 0; i < 3; i++) {
        dst[i] = ArgU32(env, v.As<Napi::Array>().Get(i), p + ": " + what + "[" + std::to_string(i) + "]");
        if (dst[i] == 0) ThrowRange(env, p + ": " + what + "[" + std::to_string(i) + "] must be >= 1");
      }
    }
    uint64_t threads = uint64_t(la.block[0]) * la.block[1] * la.block[2];
    uint64_t maxThreads = f.info.maxThreadsPerBlock > 0 ? f.info.maxThreadsPerBlock : st->props.maxThreadsPerBlock;
    if (maxThreads > 0 && threads > maxThreads)
      ThrowRange(env, p + ": block of " + std::to_string(threads) + " threads exceeds " + f.name +
                          "'s maxThreadsPerBlock " + std::to_string(maxThreads) + " (launch bounds / registers)");
    la.shared = sharedV.IsUndefined() || sharedV.IsNull() ? 0 : ArgU32(env, sharedV, p + ": sharedBytes");
    uint64_t maxShared = st->props.sharedMemPerBlockOptin;
    if (maxShared > 0 && la.shared + uint64_t(f.info.staticSharedBytes) > maxShared)
      ThrowRange(env, p + ": " + std::to_string(la.shared) + " dynamic + " + std::to_string(f.info.staticSharedBytes) +
                          " static shared bytes exceed the device's " + std::to_string(maxShared));

    if (!info[3].IsArray()) ThrowType(env, p + ": args must be an array of {buffer[, offset]} | {u32} | {i32} | {f32} | {u64} | {f64}");
    Napi::Array arr = info[3].As<Napi::Array>();
    const uint32_t n = arr.Length();
    la.slots.assign(n, 0);
    la.ptrs.resize(n);
    std::vector<size_t> sizes(n);
    for (uint32_t i = 0; i < n; i++) {
      const std::string what = p + ": args[" + std::to_string(i) + "]";
      Napi::Value v = arr.Get(i);
      if (!v.IsObject()) ThrowType(env, what + " must be {buffer[, offset]} | {u32} | {i32} | {f32} | {u64} | {f64}");
      Napi::Object o = v.As<Napi::Object>();
      uint64_t& slot = la.slots[i];
      auto num = [&](const char* key) {
        Napi::Value x = o.Get(key);
        if (!x.IsNumber()) ThrowType(env, what + "." + key + " must be a number");
        return x.As<Napi::Number>().DoubleValue();
      };
      if (o.Has("buffer")) {
        std::shared_ptr<BufferRes> b = BufferArg(env, o.Get("buffer"), what + ".buffer", st);
        uint64_t off = ArgU64Opt(env, o.Get("offset"), what + ".offset", 0);
        if (off > b->size) ThrowRange(env, what + ".offset " + std::to_string(off) + " exceeds the buffer size");
        slot = b->ptr + off;
        sizes[i] = 8;
        la.keep.push_back(b);
      } else if (o.Has("u32")) {
        uint32_t x = ArgU32(env, o.Get("u32"), what + ".u32");
        std::memcpy(&slot, &x, 4);
        sizes[i] = 4;
      } else if (o.Has("i32")) {
        double d = num("i32");
        if (std::floor(d) != d || d < -2147483648.0 || d > 2147483647.0) ThrowType(env, what + ".i32 must be a 32-bit integer");
        int32_t x = static_cast<int32_t>(d);
        std::memcpy(&slot, &x, 4);
        sizes[i] = 4;
      } else if (o.Has("f32")) {
        float x = static_cast<float>(num("f32"));
        std::memcpy(&slot, &x, 4);
        sizes[i] = 4;
      } else if (o.Has("u64")) {
        Napi::Value x = o.Get("u64");
        if (x.IsBigInt()) {
          bool lossless = true;
          slot = x.As<Napi::BigInt>().Uint64Value(&lossless);
          if (!lossless) ThrowType(env, what + ".u64 must fit in 64 bits");
        } else {
          slot = ArgU64(env, x, what + ".u64");
        }
        sizes[i] = 8;
      } else if (o.Has("f64")) {
        double x = num("f64");
        std::memcpy(&slot, &x, 8);
        sizes[i] = 8;
      } else {
        ThrowType(env, what + " must be {buffer[, offset]} | {u32} | {i32} | {f32} | {u64} | {f64}");
      }
      la.ptrs[i] = &slot;
    }
    // The driver copies each parameter by its declared size from our pointer: a count or size mismatch
    // would read garbage, so check where the driver tells the sizes (CUDA 12.4+).
    if (f.info.paramsKnown && !(f.info.paramSizes.empty() && n > 0)) {
      bool ok = f.info.paramSizes.size() == n;
      for (uint32_t i = 0; ok && i < n; i++) ok = f.info.paramSizes[i] == sizes[i];
      if (!ok) {
        std::string want, got;
        for (size_t x : f.info.paramSizes) want += (want.empty() ? "" : ", ") + std::to_string(x);
        for (size_t x : sizes) got += (got.empty() ? "" : ", ") + std::to_string(x);
        ThrowType(env, p + ": " + f.name + " takes " + std::to_string(f.info.paramSizes.size()) + " parameter(s) of [" +
                           want + "] bytes, got " + std::to_string(n) + " arg(s) of [" + got + "] bytes");
      }
    }
    return la;
  }

  void DoLaunch(DeviceState& s, FunctionWrap& f, LaunchArgs& la) {
    if (la.shared > f.sharedAllowed) {
      s.drv->FunctionSetMaxDynamicShared(f.fn, static_cast<int>(la.shared));
      f.sharedAllowed = la.shared;
    }
    s.drv->Launch(f.fn, la.grid, la.block, la.shared, s.stream, la.ptrs.empty() ? nullptr : la.ptrs.data());
  }

  // launch(fn, grid, block, args, sharedBytes?): enqueued; errors inside the kernel surface at the next sync.
  Napi::Value Launch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    DeviceState& s = Live(env, "launch");
    FunctionWrap& f = FunctionArg(env, info[0], "launch: fn", st);
    LaunchArgs la = ParseLaunch(env, info, f, info[4], "launch");
    return Guard(env, [&]() -> Napi::Value {
      s.Current();
      DoLaunch(s, f, la);
      return env.Undefined();
    });
  }

  // time(fn, grid, block, args, reps, sharedBytes?): ns per launch over `reps` back-to-back launches.
  Napi::Value Time(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    DeviceState& s = Live(env, "time");
    FunctionWrap& f = FunctionArg(env, info[0], "time: fn", st);
    uint32_t reps = ArgU32(env, info[4], "time: reps");
    if (reps == 0) ThrowRange(env, "time: reps must be >= 1");
    LaunchArgs la = ParseLaunch(env, info, f, info[5], "time");
    return Guard(env, [&]() -> Napi::Value {
      s.Current();
      Handle a = s.TakeEvent(), b = s.TakeEvent();
      struct Back {
        DeviceState& s;
        Handle a, b;
        ~Back() {
          s.eventPool.push_back(a);
          s.eventPool.push_back(b);
        }
      } back{s, a, b};
      s.drv->EventRecord(a, s.stream);
      for (uint32_t i = 0; i < reps; i++) DoLaunch(s, f, la);
      s.drv->EventRecord(b, s.stream);
      s.drv->EventSync(b);
      double ms = s.drv->EventElapsedMs(a, b);
      return Napi::Number::New(env, ms * 1e6 / reps);
    });
  }

  // timestamp(): record an event in stream order; its index in the current round.
  Napi::Value Timestamp(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    DeviceState& s = Live(env, "timestamp");
    if (s.marks.size() >= kMaxMarks)
      ThrowError(env, "Context.timestamp: more than " + std::to_string(kMaxMarks) + " timestamps before timestamps()");
    return Guard(env, [&]() -> Napi::Value {
      s.Current();
      Handle e = s.TakeEvent();
      try {
        s.drv->EventRecord(e, s.stream);
      } catch (...) {
        s.eventPool.push_back(e);
        throw;
      }
      s.marks.push_back(e);
      return Napi::Number::New(env, static_cast<double>(s.marks.size() - 1));
    });
  }

  // timestamps(): wait for the last mark; ns of each mark since the first; starts a new round.
  Napi::Value Timestamps(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    DeviceState& s = Live(env, "timestamps");
    return Guard(env, [&]() -> Napi::Value {
      std::vector<Handle> marks;
      marks.swap(s.marks);
      struct Back {
        DeviceState& s;
        std::vector<Handle>& m;
        ~Back() { s.eventPool.insert(s.eventPool.end(), m.begin(), m.end()); }
      } back{s, marks};
      Napi::Float64Array out = Napi::Float64Array::New(env, marks.size());
      if (marks.empty()) return out;
      s.Current();
      s.drv->EventSync(marks.back());
      for (size_t i = 0; i < marks.size(); i++)
        out[i] = i == 0 ? 0.0 : static_cast<double>(s.drv->EventElapsedMs(marks[0], marks[i])) * 1e6;
      return out;
    });
  }

  Napi::Value Synchronize(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    DeviceState& s = Live(env, "synchronize");
    return Guard(env, [&]() -> Napi::Value {
      s.Current();
      s.drv->StreamSync(s.stream);
      return env.Undefined();
    });
  }

  Napi::Value Destroy(const Napi::CallbackInfo& info) {
    if (st) st->Destroy();
    return info.Env().Undefined();
  }
};

Napi::Function DefineContext(Napi::Env env) {
  using W = ContextWrap;
  return W::DefineClass(env, "Context",
                        {W::InstanceMethod<&W::CreateBuffer>("createBuffer"), W::InstanceMethod<&W::Upload>("upload"),
                         W::InstanceMethod<&W::Download>("download"), W::InstanceMethod<&W::Fill>("fill"),
                         W::InstanceMethod<&W::Compile>("compile"), W::InstanceMethod<&W::LoadModule>("loadModule"),
                         W::InstanceMethod<&W::Launch>("launch"), W::InstanceMethod<&W::Time>("time"),
                         W::InstanceMethod<&W::Timestamp>("timestamp"),
                         W::InstanceMethod<&W::Timestamps>("timestamps"),
                         W::InstanceMethod<&W::Synchronize>("synchronize"), W::InstanceMethod<&W::Destroy>("destroy")});
}

Napi::Value NewContext(Napi::Env env, uint32_t index) {
  const DeviceEntry& d = GetBackends().devices[index];
  auto st = std::make_shared<DeviceState>();
  st->drv = d.driver;
  st->props = d.props;
  st->index = index;
  Guard(env, [&]() -> int {
    st->ctx = d.driver->Open(d.props.ordinal);
    try {
      st->stream = d.driver->StreamCreate();
    } catch (...) {
      d.driver->Close(d.props.ordinal, st->ctx);
      throw;
    }
    return 0;
  });
  st->alive = true;
  LiveAdd(kLiveContext, 1);
  Napi::Object obj = Addon(env).context.New({});
  ContextWrap::Unwrap(obj)->st = st;
  auto ro = static_cast<napi_property_attributes>(napi_enumerable);
  obj.DefineProperties({Napi::PropertyDescriptor::Value("device", DeviceInfoObject(env, index, d.props), ro)});
  return obj;
}

}  // namespace hip
}  // namespace kpack
