// Sequence: one command buffer of dispatches/barriers/timestamps/fills/copies, submitted and waited on.
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <unordered_set>

#include "kpack_vulkan.h"

namespace kpack {

static const uint32_t kMaxTimestamps = 1024;

// How long submit() waits for the GPU: $KPACK_SUBMIT_TIMEOUT_S seconds (default 120; 0 = forever). A
// kernel that never ends (a bad variant under tuning) then becomes an error instead of a hang.
static uint64_t SubmitTimeoutNs() {
  const char* v = std::getenv("KPACK_SUBMIT_TIMEOUT_S");
  double sec = v && *v ? std::atof(v) : 120.0;
  if (!(sec > 0)) return UINT64_MAX;
  return static_cast<uint64_t>(sec * 1e9);
}

// How long submit() polls the fence (vkGetFenceStatus in a loop) before blocking in vkWaitForFences, in
// microseconds: KPACK_VK_SPIN_US, default 0 (block at once). For an A/B of the blocking wait's wake-up latency.
static uint64_t SpinNs() {
  const char* v = std::getenv("KPACK_VK_SPIN_US");
  double us = v && *v ? std::atof(v) : 0.0;
  return us > 0 ? static_cast<uint64_t>(us * 1e3) : 0;
}

struct SequenceRes : Resource {
  explicit SequenceRes(std::shared_ptr<DeviceState> d) : Resource(std::move(d), kLiveSequence) {}
  ~SequenceRes() override { Release(); }
  // kLost: a submission timed out (SubmitTimeoutNs) and may still be executing: nothing of it is freed
  enum State { kInitial, kRecording, kExecutable, kLost };
  VkCommandPool pool = VK_NULL_HANDLE;
  VkCommandBuffer cmd = VK_NULL_HANDLE;
  VkFence fence = VK_NULL_HANDLE;
  VkQueryPool queries = VK_NULL_HANDLE;
  uint32_t queryCount = 0;
  State state = kInitial;
  VkPipeline bound = VK_NULL_HANDLE;
  std::vector<VkDescriptorPool> descPools;  // used only by pipelines without push descriptors
  size_t curPool = 0;
  std::unordered_set<std::shared_ptr<Resource>> keep;  // resources the current recording uses
  std::vector<double> lastTimes;
  // barrier() is recorded lazily, at the next command, with the stages actually involved: the stages of the
  // commands since the previous barrier (source) and of the command that follows (destination)
  bool barrierPending = false;
  VkPipelineStageFlags stagesSinceBarrier = 0;

 protected:
  void FreeVulkan() override {
    if (state == kLost) return;  // the GPU may still use the command buffer, its pools and resources: leak them
    VkDevice d = dev->device;
    for (VkDescriptorPool p : descPools) vkDestroyDescriptorPool(d, p, nullptr);
    descPools.clear();
    if (queries) vkDestroyQueryPool(d, queries, nullptr);
    if (fence) vkDestroyFence(d, fence, nullptr);
    if (pool) vkDestroyCommandPool(d, pool, nullptr);
    queries = VK_NULL_HANDLE;
    fence = VK_NULL_HANDLE;
    pool = VK_NULL_HANDLE;
    cmd = VK_NULL_HANDLE;
    keep.clear();  // may release resources destroyed from JS while recorded here
  }
};

class SequenceWrap : public Napi::ObjectWrap<SequenceWrap> {
 public:
  explicit SequenceWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SequenceWrap>(info) {}
  std::shared_ptr<SequenceRes> res;
  bool destroyed = false;

  SequenceRes& Live(Napi::Env env, const char* fn) {
    if (destroyed || !res) ThrowError(env, std::string("Sequence.") + fn + ": Sequence used after destroy()");
    if (res->released) ThrowError(env, std::string("Sequence.") + fn + ": Sequence used after its Context was destroyed");
    if (res->state == SequenceRes::kLost) ThrowError(env, std::string("Sequence.") + fn + ": GPU timeout: an earlier submission of this Sequence never finished");
    return *res;
  }

  // Record the pending barrier (if any) before a command of `next` stages, and note those stages.
  static void Before(SequenceRes& s, VkPipelineStageFlags next) {
    if (s.barrierPending) {
      if (FullBarriers()) CmdFullBarrier(s.cmd, false);
      else CmdStageBarrier(s.cmd, s.stagesSinceBarrier ? s.stagesSinceBarrier : VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, next);
      s.barrierPending = false;
      s.stagesSinceBarrier = 0;
    }
    s.stagesSinceBarrier |= next;
  }

  // KPACK_VK_BARRIER=full: every barrier covers compute and transfer on both sides (the behaviour before the
  // stage-exact barriers; for measuring them against each other).
  static bool FullBarriers() {
    static const bool full = [] {
      const char* v = std::getenv("KPACK_VK_BARRIER");
      return v && std::string(v) == "full";
    }();
    return full;
  }

  // Start recording if needed.
  SequenceRes& Recording(Napi::Env env, const char* fn) {
    SequenceRes& s = Live(env, fn);
    if (s.state == SequenceRes::kExecutable)
      ThrowError(env, std::string("Sequence.") + fn + ": already submitted; call reset() before recording again");
    if (s.state == SequenceRes::kInitial) {
      VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
      Check(env, vkBeginCommandBuffer(s.cmd, &bi), "vkBeginCommandBuffer");
      CmdFullBarrier(s.cmd, false);  // make earlier submissions/transfers visible
      s.state = SequenceRes::kRecording;
    }
    return s;
  }

  VkDescriptorSet AllocSet(Napi::Env env, SequenceRes& s, const PipelineRes& p) {
    VkDevice d = s.dev->device;
    for (;;) {
      if (s.curPool == s.descPools.size()) {
        uint32_t n = p.bindingCount > 4096 ? p.bindingCount : 4096;
        VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, n};
        VkDescriptorPoolCreateInfo ci{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
        ci.maxSets = 512;
        ci.poolSizeCount = 1;
        ci.pPoolSizes = &size;
        VkDescriptorPool pool;
        Check(env, vkCreateDescriptorPool(d, &ci, nullptr, &pool), "vkCreateDescriptorPool");
        s.descPools.push_back(pool);
      }
      VkDescriptorSetAllocateInfo ai{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
      ai.descriptorPool = s.descPools[s.curPool];
      ai.descriptorSetCount = 1;
      ai.pSetLayouts = &p.setLayout;
      VkDescriptorSet set;
      VkResult r = vkAllocateDescriptorSets(d, &ai, &set);
      if (r == VK_SUCCESS) return set;
      if (r != VK_ERROR_OUT_OF_POOL_MEMORY && r != VK_ERROR_FRAGMENTED_POOL) ThrowVk(env, "vkAllocateDescriptorSets", r);
      s.curPool++;
    }
  }

  Napi::Value Dispatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    SequenceRes& s0 = Live(env, "dispatch");
    std::shared_ptr<PipelineRes> p = PipelineArg(env, info[0], "dispatch: pipeline");
    if (p->dev != s0.dev) ThrowError(env, "dispatch: pipeline belongs to another Context");
    if (!info[1].IsArray()) ThrowType(env, "dispatch: bindings must be an array");
    Napi::Array arr = info[1].As<Napi::Array>();
    if (arr.Length() != p->bindingCount)
      ThrowType(env, "dispatch: bindings has " + std::to_string(arr.Length()) + " entries, the pipeline expects " +
                         std::to_string(p->bindingCount));
    const DeviceState& st = *s0.dev;
    std::vector<std::shared_ptr<BufferRes>> bufs(p->bindingCount);
    std::vector<VkDescriptorBufferInfo> infos(p->bindingCount);
    Napi::Function bufCtor = Addon(env).buffer.Value();
    for (uint32_t i = 0; i < p->bindingCount; i++) {
      const std::string what = "dispatch: bindings[" + std::to_string(i) + "]";
      Napi::Value b = arr.Get(i);
      if (!b.IsObject()) ThrowType(env, what + " must be {buffer, offset?, range?}");
      Napi::Object bo = b.As<Napi::Object>();
      bool direct = bo.InstanceOf(bufCtor);
      bufs[i] = BufferArg(env, direct ? b : bo.Get("buffer"), what + ".buffer");
      if (bufs[i]->dev != s0.dev) ThrowError(env, what + ": buffer belongs to another Context");
      uint64_t off = direct ? 0 : ArgU64Opt(env, bo.Get("offset"), what + ".offset", 0);
      uint64_t range = direct ? 0 : ArgU64Opt(env, bo.Get("range"), what + ".range", 0);
      uint64_t size = bufs[i]->size;
      if (off % st.minStorageOffsetAlign)
        ThrowRange(env, what + ".offset " + std::to_string(off) + " is not a multiple of minStorageBufferOffsetAlignment " +
                            std::to_string(st.minStorageOffsetAlign));
      if (off >= size || range > size - off)
        ThrowRange(env, what + ": offset " + std::to_string(off) + " + range " + std::to_string(range) +
                            " exceeds the buffer size " + std::to_string(size));
      if (range == 0) range = size - off > st.maxStorageRange ? (st.maxStorageRange & ~3ull) : VK_WHOLE_SIZE;
      else if (range > st.maxStorageRange)
        ThrowRange(env, what + ".range " + std::to_string(range) + " exceeds maxStorageBufferRange " +
                            std::to_string(st.maxStorageRange));
      infos[i] = {bufs[i]->buffer, off, range};
    }
    ByteView push{nullptr, 0};
    if (!info[2].IsNull() && !info[2].IsUndefined()) push = ArgBytes(env, info[2], "dispatch: push");
    if (push.size != p->pushBytes)
      ThrowRange(env, "dispatch: push has " + std::to_string(push.size) + " bytes, the pipeline expects " +
                          std::to_string(p->pushBytes));
    if (!info[3].IsArray() || info[3].As<Napi::Array>().Length() != 3)
      ThrowType(env, "dispatch: groups must be [x, y, z]");
    uint32_t g[3];
    for (uint32_t i = 0; i < 3; i++) {
      g[i] = ArgU32(env, info[3].As<Napi::Array>().Get(i), "dispatch: groups[" + std::to_string(i) + "]");
      if (g[i] > st.caps->props.limits.maxComputeWorkGroupCount[i])
        ThrowRange(env, "dispatch: groups[" + std::to_string(i) + "] = " + std::to_string(g[i]) +
                            " exceeds maxComputeWorkGroupCount " +
                            std::to_string(st.caps->props.limits.maxComputeWorkGroupCount[i]));
    }

    SequenceRes& s = Recording(env, "dispatch");
    Before(s, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT);
    if (s.bound != p->pipeline) {
      vkCmdBindPipeline(s.cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p->pipeline);
      s.bound = p->pipeline;
    }
    if (p->bindingCount) {
      std::vector<VkWriteDescriptorSet> writes(p->bindingCount);
      VkDescriptorSet set = p->usePush ? VK_NULL_HANDLE : AllocSet(env, s, *p);
      for (uint32_t i = 0; i < p->bindingCount; i++) {
        writes[i] = {VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
        writes[i].dstSet = set;
        writes[i].dstBinding = i;
        writes[i].descriptorCount = 1;
        writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
        writes[i].pBufferInfo = &infos[i];
      }
      if (p->usePush) {
        st.cmdPushDescriptorSet(s.cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p->layout, 0, p->bindingCount, writes.data());
      } else {
        vkUpdateDescriptorSets(s.dev->device, p->bindingCount, writes.data(), 0, nullptr);
        vkCmdBindDescriptorSets(s.cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p->layout, 0, 1, &set, 0, nullptr);
      }
    }
    if (p->pushBytes) vkCmdPushConstants(s.cmd, p->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, p->pushBytes, push.data);
    vkCmdDispatch(s.cmd, g[0], g[1], g[2]);
    s.keep.insert(p);
    for (auto& b : bufs) s.keep.insert(b);
    return env.Undefined();
  }

  Napi::Value Barrier(const Napi::CallbackInfo& info) {
    SequenceRes& s = Recording(info.Env(), "barrier");
    s.barrierPending = true;  // recorded by Before() at the next command, with the stages involved
    return info.Env().Undefined();
  }

  Napi::Value Timestamp(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    SequenceRes& s0 = Live(env, "timestamp");
    if (s0.dev->caps->timestampValidBits == 0)
      ThrowError(env, std::string("Sequence.timestamp: the compute queue of ") + s0.dev->caps->props.deviceName +
                          " does not support timestamps");
    if (s0.state != SequenceRes::kExecutable && s0.queryCount >= kMaxTimestamps)
      ThrowError(env, "Sequence.timestamp: more than " + std::to_string(kMaxTimestamps) +
                          " timestamps in one recording");
    if (!s0.queries) {
      VkQueryPoolCreateInfo qi{VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO};
      qi.queryType = VK_QUERY_TYPE_TIMESTAMP;
      qi.queryCount = kMaxTimestamps;
      Check(env, vkCreateQueryPool(s0.dev->device, &qi, nullptr, &s0.queries), "vkCreateQueryPool");
    }
    SequenceRes& s = Recording(env, "timestamp");
    if (s.queryCount == 0) vkCmdResetQueryPool(s.cmd, s.queries, 0, kMaxTimestamps);
    vkCmdWriteTimestamp(s.cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, s.queries, s.queryCount);
    return Napi::Number::New(env, s.queryCount++);
  }

  Napi::Value Fill(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    SequenceRes& s0 = Live(env, "fill");
    std::shared_ptr<BufferRes> b = BufferArg(env, info[0], "fill: buffer");
    if (b->dev != s0.dev) ThrowError(env, "fill: buffer belongs to another Context");
    if (!info[1].IsNumber()) ThrowType(env, "fill: value must be a number (32-bit pattern)");
    double v = info[1].As<Napi::Number>().DoubleValue();
    if (!std::isfinite(v) || std::floor(v) != v || v < -2147483648.0 || v > 4294967295.0)
      ThrowType(env, "fill: value must be an integer in [-2^31, 2^32)");
    uint32_t pattern = static_cast<uint32_t>(static_cast<int64_t>(v));
    uint64_t off = ArgU64Opt(env, info[2], "fill: offset", 0);
    bool whole = info[3].IsUndefined() || info[3].IsNull();
    uint64_t size = whole ? (off <= b->size ? b->size - off : 0) : ArgU64(env, info[3], "fill: size");
    if (off % 4 || (!whole && size % 4)) ThrowRange(env, "fill: offset and size must be multiples of 4");
    if (off > b->size || size > b->size - off)
      ThrowRange(env, "fill: range exceeds the buffer size " + std::to_string(b->size));
    size &= ~3ull;
    if (size == 0) return env.Undefined();
    SequenceRes& s = Recording(env, "fill");
    Before(s, VK_PIPELINE_STAGE_TRANSFER_BIT);
    vkCmdFillBuffer(s.cmd, b->buffer, off, size, pattern);
    s.keep.insert(b);
    return env.Undefined();
  }

  // update(buffer, data, offset?): vkCmdUpdateBuffer, the bytes copied into the command buffer now.
  Napi::Value Update(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    SequenceRes& s0 = Live(env, "update");
    std::shared_ptr<BufferRes> b = BufferArg(env, info[0], "update: buffer");
    if (b->dev != s0.dev) ThrowError(env, "update: buffer belongs to another Context");
    if (!info[1].IsTypedArray() && !info[1].IsDataView()) ThrowType(env, "update: data must be a typed array or DataView");
    const uint8_t* bytes;
    size_t size;
    if (info[1].IsTypedArray()) {
      Napi::TypedArray t = info[1].As<Napi::TypedArray>();
      bytes = static_cast<const uint8_t*>(t.ArrayBuffer().Data()) + t.ByteOffset();
      size = t.ByteLength();
    } else {
      Napi::DataView d = info[1].As<Napi::DataView>();
      bytes = static_cast<const uint8_t*>(d.ArrayBuffer().Data()) + d.ByteOffset();
      size = d.ByteLength();
    }
    uint64_t off = ArgU64Opt(env, info[2], "update: offset", 0);
    if (off % 4 || size % 4) ThrowRange(env, "update: offset and size must be multiples of 4");
    if (size == 0 || size > 65536) ThrowRange(env, "update: 1 to 65536 bytes (vkCmdUpdateBuffer's limit), got " + std::to_string(size));
    if (off > b->size || size > b->size - off)
      ThrowRange(env, "update: range exceeds the buffer size " + std::to_string(b->size));
    SequenceRes& s = Recording(env, "update");
    Before(s, VK_PIPELINE_STAGE_TRANSFER_BIT);
    vkCmdUpdateBuffer(s.cmd, b->buffer, off, size, bytes);
    s.keep.insert(b);
    return env.Undefined();
  }

  Napi::Value Copy(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    SequenceRes& s0 = Live(env, "copy");
    std::shared_ptr<BufferRes> src = BufferArg(env, info[0], "copy: src");
    std::shared_ptr<BufferRes> dst = BufferArg(env, info[1], "copy: dst");
    if (src->dev != s0.dev || dst->dev != s0.dev) ThrowError(env, "copy: buffer belongs to another Context");
    uint64_t bytes = ArgU64(env, info[2], "copy: bytes");
    uint64_t so = ArgU64Opt(env, info[3], "copy: srcOffset", 0);
    uint64_t dof = ArgU64Opt(env, info[4], "copy: dstOffset", 0);
    if (so > src->size || bytes > src->size - so) ThrowRange(env, "copy: source range exceeds the src buffer size");
    if (dof > dst->size || bytes > dst->size - dof) ThrowRange(env, "copy: destination range exceeds the dst buffer size");
    if (src == dst && so < dof + bytes && dof < so + bytes) ThrowRange(env, "copy: overlapping ranges in one buffer");
    if (bytes == 0) return env.Undefined();
    SequenceRes& s = Recording(env, "copy");
    Before(s, VK_PIPELINE_STAGE_TRANSFER_BIT);
    VkBufferCopy region{so, dof, bytes};
    vkCmdCopyBuffer(s.cmd, src->buffer, dst->buffer, 1, &region);
    s.keep.insert(src);
    s.keep.insert(dst);
    return env.Undefined();
  }

  Napi::Value Submit(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    SequenceRes& s0 = Live(env, "submit");
    SequenceRes& s = s0.state == SequenceRes::kExecutable ? s0 : Recording(env, "submit");
    if (s.state == SequenceRes::kRecording) {
      s.barrierPending = false;  // the final barrier below covers a pending one
      CmdFullBarrier(s.cmd, true);  // device writes available to the host (host-visible buffers' read())
      Check(env, vkEndCommandBuffer(s.cmd), "vkEndCommandBuffer");
      s.state = SequenceRes::kExecutable;
    }
    VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
    si.commandBufferCount = 1;
    si.pCommandBuffers = &s.cmd;
    DeviceState& st = *s.dev;
    Check(env, vkQueueSubmit(st.queue, 1, &si, s.fence), "vkQueueSubmit");
    const uint64_t timeoutNs = SubmitTimeoutNs();
    if (const uint64_t spinNs = SpinNs()) {
      const auto t0 = std::chrono::steady_clock::now();
      while (vkGetFenceStatus(st.device, s.fence) == VK_NOT_READY &&
             static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count()) < spinNs) {
      }
    }
    VkResult r = vkWaitForFences(st.device, 1, &s.fence, VK_TRUE, timeoutNs);
    if (r == VK_TIMEOUT) {
      // the work is still queued or running (a kernel that never ends): the fence stays pending and this
      // device cannot be trusted for the rest of the process
      s.state = SequenceRes::kLost;
      st.hung = true;
      ThrowError(env, "GPU timeout: Sequence.submit: the GPU did not finish the submission within " +
                          std::to_string(timeoutNs / 1000000000ull) +
                          " s (a hung kernel?; KPACK_SUBMIT_TIMEOUT_S sets the limit); this device cannot be used further in this process");
    }
    vkResetFences(st.device, 1, &s.fence);
    if (r != VK_SUCCESS) ThrowVk(env, "vkWaitForFences", r);
    s.lastTimes.clear();
    if (s.queryCount) {
      std::vector<uint64_t> raw(s.queryCount);
      Check(env,
            vkGetQueryPoolResults(st.device, s.queries, 0, s.queryCount, raw.size() * 8, raw.data(), 8,
                                  VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT),
            "vkGetQueryPoolResults");
      uint32_t bits = st.caps->timestampValidBits;
      uint64_t mask = bits >= 64 ? ~0ull : ((1ull << bits) - 1);
      double period = st.caps->props.limits.timestampPeriod;
      uint64_t t0 = raw[0] & mask;
      for (uint64_t t : raw) s.lastTimes.push_back(static_cast<double>(((t & mask) - t0) & mask) * period);
    }
    return env.Undefined();
  }

  Napi::Value Timestamps(const Napi::CallbackInfo& info) {
    SequenceRes& s = Live(info.Env(), "timestamps");
    Napi::Float64Array a = Napi::Float64Array::New(info.Env(), s.lastTimes.size());
    for (size_t i = 0; i < s.lastTimes.size(); i++) a[i] = s.lastTimes[i];
    return a;
  }

  Napi::Value Reset(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    SequenceRes& s = Live(env, "reset");
    if (s.state == SequenceRes::kRecording) vkEndCommandBuffer(s.cmd);
    Check(env, vkResetCommandPool(s.dev->device, s.pool, 0), "vkResetCommandPool");
    for (VkDescriptorPool p : s.descPools) vkResetDescriptorPool(s.dev->device, p, 0);
    s.curPool = 0;
    s.queryCount = 0;
    s.bound = VK_NULL_HANDLE;
    s.barrierPending = false;
    s.stagesSinceBarrier = 0;
    s.state = SequenceRes::kInitial;
    s.keep.clear();
    return env.Undefined();
  }

  Napi::Value Destroy(const Napi::CallbackInfo& info) {
    destroyed = true;
    res.reset();
    return info.Env().Undefined();
  }
};

Napi::Function DefineSequence(Napi::Env env) {
  using W = SequenceWrap;
  return W::DefineClass(env, "Sequence",
                        {W::InstanceMethod<&W::Dispatch>("dispatch"), W::InstanceMethod<&W::Barrier>("barrier"),
                         W::InstanceMethod<&W::Timestamp>("timestamp"), W::InstanceMethod<&W::Fill>("fill"),
                         W::InstanceMethod<&W::Update>("update"),
                         W::InstanceMethod<&W::Copy>("copy"), W::InstanceMethod<&W::Submit>("submit"),
                         W::InstanceMethod<&W::Timestamps>("timestamps"), W::InstanceMethod<&W::Reset>("reset"),
                         W::InstanceMethod<&W::Destroy>("destroy")});
}

Napi::Value NewSequence(Napi::Env env, const std::shared_ptr<DeviceState>& st) {
  Napi::Object obj = Addon(env).sequence.New({});
  auto s = std::make_shared<SequenceRes>(st);
  VkCommandPoolCreateInfo pci{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  pci.queueFamilyIndex = st->queueFamily;
  Check(env, vkCreateCommandPool(st->device, &pci, nullptr, &s->pool), "vkCreateCommandPool");
  VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
  ai.commandPool = s->pool;
  ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  ai.commandBufferCount = 1;
  Check(env, vkAllocateCommandBuffers(st->device, &ai, &s->cmd), "vkAllocateCommandBuffers");
  VkFenceCreateInfo fci{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  Check(env, vkCreateFence(st->device, &fci, nullptr, &s->fence), "vkCreateFence");
  SequenceWrap::Unwrap(obj)->res = s;
  return obj;
}

}  // namespace kpack
