// GpuBuffer objects and blocking upload/download through the context's staging buffer.
#include <algorithm>
#include <cstring>

#include "kpack_vulkan.h"

namespace kpack {

void BufferRes::FreeVulkan() {
  if (mapped) vkUnmapMemory(dev->device, memory);
  mapped = nullptr;
  if (buffer) vkDestroyBuffer(dev->device, buffer, nullptr);
  if (memory) vkFreeMemory(dev->device, memory, nullptr);
  buffer = VK_NULL_HANDLE;
  memory = VK_NULL_HANDLE;
}

Napi::Function BufferWrap::Define(Napi::Env env) {
  return DefineClass(env, "GpuBuffer",
                     {InstanceAccessor<&BufferWrap::Size>("size", napi_enumerable),
                      InstanceMethod<&BufferWrap::Read>("read"), InstanceMethod<&BufferWrap::Write>("write"),
                      InstanceMethod<&BufferWrap::Destroy>("destroy")});
}

Napi::Value BufferWrap::Size(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), size); }

// The live, host-visible buffer for read()/write() of [offset, offset + bytes); throws naming `fn`.
BufferRes& BufferWrap::Mapped(Napi::Env env, const char* fn, uint64_t offset, uint64_t bytes) {
  const std::string f(fn);
  if (destroyed || !res) ThrowError(env, f + ": GpuBuffer used after destroy()");
  if (res->released) ThrowError(env, f + ": GpuBuffer used after its Context was destroyed");
  if (!res->mapped) ThrowError(env, f + ": buffer is not host-visible (create it with createBuffer(bytes, { hostVisible: true }))");
  if (offset > res->size || bytes > res->size - offset) ThrowRange(env, f + ": range exceeds the buffer size " + std::to_string(res->size));
  return *res;
}

// The whole mapping of a non-coherent buffer, for flush / invalidate.
static const VkMappedMemoryRange& WholeRange(const BufferRes& r) {
  static thread_local VkMappedMemoryRange range{VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE};
  range.memory = r.memory;
  range.offset = 0;
  range.size = VK_WHOLE_SIZE;
  return range;
}

// read(offset, bytes): copy from a host-visible buffer's mapping (after the writing submit returned).
Napi::Value BufferWrap::Read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t offset = ArgU64(env, info[0], "read: offset");
  uint64_t bytes = ArgU64(env, info[1], "read: bytes");
  BufferRes& r = Mapped(env, "read", offset, bytes);
  if (!r.coherent) Check(env, vkInvalidateMappedMemoryRanges(r.dev->device, 1, &WholeRange(r)), "vkInvalidateMappedMemoryRanges");
  Napi::ArrayBuffer out = Napi::ArrayBuffer::New(env, bytes);
  std::memcpy(out.Data(), r.mapped + offset, bytes);
  return out;
}

// write(offset, data): copy bytes into a host-visible buffer's mapping (flushed when not coherent); the
// next submit that reads the buffer sees them (vkQueueSubmit makes host writes available).
Napi::Value BufferWrap::Write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t offset = ArgU64(env, info[0], "write: offset");
  if (!info[1].IsTypedArray() && !info[1].IsDataView()) ThrowType(env, "write: data must be a TypedArray or DataView");
  const uint8_t* src;
  uint64_t bytes;
  if (info[1].IsTypedArray()) {
    Napi::TypedArray a = info[1].As<Napi::TypedArray>();
    src = static_cast<const uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset();
    bytes = a.ByteLength();
  } else {
    Napi::DataView a = info[1].As<Napi::DataView>();
    src = static_cast<const uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset();
    bytes = a.ByteLength();
  }
  BufferRes& r = Mapped(env, "write", offset, bytes);
  std::memcpy(r.mapped + offset, src, bytes);
  if (!r.coherent) Check(env, vkFlushMappedMemoryRanges(r.dev->device, 1, &WholeRange(r)), "vkFlushMappedMemoryRanges");
  return env.Undefined();
}

Napi::Value BufferWrap::Destroy(const Napi::CallbackInfo& info) {
  destroyed = true;
  res.reset();  // frees now unless a recorded Sequence still references the buffer
  return info.Env().Undefined();
}

std::shared_ptr<BufferRes> BufferArg(Napi::Env env, const Napi::Value& v, const std::string& what) {
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(Addon(env).buffer.Value()))
    ThrowType(env, what + " must be a GpuBuffer");
  BufferWrap* w = BufferWrap::Unwrap(v.As<Napi::Object>());
  if (w->destroyed || !w->res) ThrowError(env, what + ": GpuBuffer used after destroy()");
  if (w->res->released) ThrowError(env, what + ": GpuBuffer used after its Context was destroyed");
  return w->res;
}

Napi::Value NewBuffer(Napi::Env env, const std::shared_ptr<DeviceState>& st, uint64_t bytes, bool hostVisible) {
  Napi::Object obj = Addon(env).buffer.New({});
  BufferWrap* w = BufferWrap::Unwrap(obj);
  auto res = std::make_shared<BufferRes>(st);
  AllocBuffer(env, *st, bytes,
              VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
              hostVisible, &res->buffer, &res->memory, &res->coherent);
  res->size = bytes;
  if (hostVisible) {
    void* p = nullptr;
    VkResult r = vkMapMemory(st->device, res->memory, 0, VK_WHOLE_SIZE, 0, &p);
    if (r != VK_SUCCESS) ThrowVk(env, "vkMapMemory", r);  // res frees the buffer and memory
    res->mapped = static_cast<uint8_t*>(p);
  }
  w->res = res;
  w->size = static_cast<double>(bytes);
  return obj;
}

// Make the staging buffer hold at least min(total, stagingCap) bytes.
static void EnsureStaging(Napi::Env env, DeviceState& st, uint64_t total) {
  uint64_t need = std::min(total, st.stagingCap);
  if (st.stagingSize >= need) return;
  uint64_t size = std::min(st.stagingCap, std::max<uint64_t>({need, st.stagingSize * 2, 1ull << 20}));
  if (st.stagingPtr) vkUnmapMemory(st.device, st.stagingMem);
  if (st.staging) vkDestroyBuffer(st.device, st.staging, nullptr);
  if (st.stagingMem) vkFreeMemory(st.device, st.stagingMem, nullptr);
  st.stagingPtr = nullptr;
  st.staging = VK_NULL_HANDLE;
  st.stagingMem = VK_NULL_HANDLE;
  st.stagingSize = 0;
  AllocBuffer(env, st, size, VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT, true, &st.staging,
              &st.stagingMem, &st.stagingCoherent);
  void* p = nullptr;
  VkResult r = vkMapMemory(st.device, st.stagingMem, 0, VK_WHOLE_SIZE, 0, &p);
  if (r != VK_SUCCESS) {
    vkDestroyBuffer(st.device, st.staging, nullptr);
    vkFreeMemory(st.device, st.stagingMem, nullptr);
    st.staging = VK_NULL_HANDLE;
    st.stagingMem = VK_NULL_HANDLE;
    ThrowVk(env, "vkMapMemory", r);
  }
  st.stagingPtr = static_cast<uint8_t*>(p);
  st.stagingSize = size;
}

// Record one copy between staging and `buf` on the transfer command buffer, submit, wait.
static void CopyChunk(Napi::Env env, DeviceState& st, VkBuffer buf, uint64_t bufOffset, uint64_t bytes, bool toDevice) {
  VkCommandBuffer cmd = st.xferCmd;
  Check(env, vkResetCommandBuffer(cmd, 0), "vkResetCommandBuffer");
  VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  Check(env, vkBeginCommandBuffer(cmd, &bi), "vkBeginCommandBuffer");
  CmdFullBarrier(cmd, false);  // earlier submissions' writes -> this copy
  VkBufferCopy region{};
  region.size = bytes;
  if (toDevice) {
    region.dstOffset = bufOffset;
    vkCmdCopyBuffer(cmd, st.staging, buf, 1, &region);
  } else {
    region.srcOffset = bufOffset;
    vkCmdCopyBuffer(cmd, buf, st.staging, 1, &region);
    CmdFullBarrier(cmd, true);  // copy -> host reads
  }
  Check(env, vkEndCommandBuffer(cmd), "vkEndCommandBuffer");
  VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
  si.commandBufferCount = 1;
  si.pCommandBuffers = &cmd;
  Check(env, vkQueueSubmit(st.queue, 1, &si, st.xferFence), "vkQueueSubmit");
  VkResult r = vkWaitForFences(st.device, 1, &st.xferFence, VK_TRUE, UINT64_MAX);
  vkResetFences(st.device, 1, &st.xferFence);
  if (r != VK_SUCCESS) ThrowVk(env, "vkWaitForFences", r);
}

static void CheckRange(Napi::Env env, const char* fn, const BufferRes& buf, uint64_t bytes, uint64_t offset) {
  if (offset > buf.size || bytes > buf.size - offset)
    ThrowRange(env, std::string(fn) + ": range [" + std::to_string(offset) + ", " + std::to_string(offset + bytes) +
                        ") exceeds the buffer size " + std::to_string(buf.size));
}

void UploadBytes(Napi::Env env, DeviceState& st, BufferRes& buf, const uint8_t* data, uint64_t bytes,
                 uint64_t offset) {
  CheckRange(env, "upload", buf, bytes, offset);
  if (!bytes) return;
  EnsureStaging(env, st, bytes);
  for (uint64_t done = 0; done < bytes;) {
    uint64_t n = std::min(bytes - done, st.stagingSize);
    std::memcpy(st.stagingPtr, data + done, n);
    if (!st.stagingCoherent) {
      VkMappedMemoryRange mr{VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE, nullptr, st.stagingMem, 0, VK_WHOLE_SIZE};
      Check(env, vkFlushMappedMemoryRanges(st.device, 1, &mr), "vkFlushMappedMemoryRanges");
    }
    CopyChunk(env, st, buf.buffer, offset + done, n, true);
    done += n;
  }
}

void DownloadBytes(Napi::Env env, DeviceState& st, BufferRes& buf, uint8_t* out, uint64_t bytes, uint64_t offset) {
  CheckRange(env, "download", buf, bytes, offset);
  if (!bytes) return;
  EnsureStaging(env, st, bytes);
  for (uint64_t done = 0; done < bytes;) {
    uint64_t n = std::min(bytes - done, st.stagingSize);
    CopyChunk(env, st, buf.buffer, offset + done, n, false);
    if (!st.stagingCoherent) {
      VkMappedMemoryRange mr{VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE, nullptr, st.stagingMem, 0, VK_WHOLE_SIZE};
      Check(env, vkInvalidateMappedMemoryRanges(st.device, 1, &mr), "vkInvalidateMappedMemoryRanges");
    }
    std::memcpy(out + done, st.stagingPtr, n);
    done += n;
  }
}

}  // namespace kpack
