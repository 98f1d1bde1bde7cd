// Shared declarations of the kpack Vulkan back-end (see api.ts for the JS contract).
//
// Ownership model: a Context owns a DeviceState (VkDevice + queue + staging + pipeline cache).
// Every GpuBuffer / Pipeline / Sequence is a Resource holding a shared_ptr to its DeviceState and
// registered in DeviceState::resources. JS wrappers hold shared_ptrs to their Resource; a Sequence
// also holds shared_ptrs to the resources its current recording uses, so destroy() on a buffer that
// a recorded sequence still references defers the Vulkan free until that sequence is reset/destroyed.
// Context.destroy() waits idle and force-releases every registered resource, then the device.
#pragma once
#include <napi.h>

#include <cstdint>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <unordered_set>
#include <vector>

#include "vk_compat.h"

namespace kpack {

// ---------------------------------------------------------------- errors.cc
/** Name of a VkResult ("VK_ERROR_OUT_OF_DEVICE_MEMORY"); "VkResult(<n>)" for unknown codes. */
const char* VkResultName(VkResult r);
/** Throws Napi::Error "<call> failed: <VkResult name>[ (<detail>)]" with .vkCall/.vkResult set. */
[[noreturn]] void ThrowVk(Napi::Env env, const char* call, VkResult r, const std::string& detail = "");
inline void Check(Napi::Env env, VkResult r, const char* call) {
  if (r != VK_SUCCESS) ThrowVk(env, call, r);
}
[[noreturn]] void ThrowType(Napi::Env env, const std::string& msg);
[[noreturn]] void ThrowRange(Napi::Env env, const std::string& msg);
[[noreturn]] void ThrowError(Napi::Env env, const std::string& msg);

/** A finite non-negative integer <= 2^53 (bytes, counts); TypeError naming `what` otherwise. */
uint64_t ArgU64(Napi::Env env, const Napi::Value& v, const std::string& what);
/** Like ArgU64 but undefined/null gives `def`. */
uint64_t ArgU64Opt(Napi::Env env, const Napi::Value& v, const std::string& what, uint64_t def);
/** An integer in [0, 2^32). */
uint32_t ArgU32(Napi::Env env, const Napi::Value& v, const std::string& what);
/** Raw bytes of an ArrayBufferView (TypedArray/DataView/Buffer) or ArrayBuffer; TypeError otherwise. */
struct ByteView {
  const uint8_t* data;
  size_t size;
};
ByteView ArgBytes(Napi::Env env, const Napi::Value& v, const std::string& what);

enum LiveKind { kLiveContext = 0, kLiveBuffer, kLivePipeline, kLiveSequence, kLiveKinds };
/** Adjust the live-object counter of a kind (objects holding Vulkan handles). */
void LiveAdd(LiveKind k, int delta);
int64_t LiveCount(LiveKind k);
/** { contexts, buffers, pipelines, sequences } live counts. */
Napi::Object LiveObjects(Napi::Env env);

// ---------------------------------------------------------------- instance.cc
/** Everything queried from one physical device. Not copyable (holds a pNext chain). */
struct DeviceCaps {
  DeviceCaps() = default;
  DeviceCaps(const DeviceCaps&) = delete;
  DeviceCaps& operator=(const DeviceCaps&) = delete;

  VkPhysicalDevice phys = VK_NULL_HANDLE;
  uint32_t index = 0;
  uint32_t apiVersion = 0;  // min(device, instance)
  std::set<std::string> exts;
  bool has(const char* ext) const { return exts.count(ext) != 0; }

  VkPhysicalDeviceProperties props{};
  VkPhysicalDeviceMemoryProperties mem{};
  // Features (each valid only when its has* flag is set).
  VkPhysicalDeviceFeatures2 f2{};
  VkPhysicalDevice16BitStorageFeatures f16s{};
  VkPhysicalDevice8BitStorageFeatures f8s{};
  VkPhysicalDeviceShaderFloat16Int8Features f16i8{};
  VkPhysicalDeviceVulkanMemoryModelFeatures fmm{};
  VkPhysicalDeviceSubgroupSizeControlFeatures fssc{};
  VkPhysicalDeviceShaderIntegerDotProductFeatures fdot{};
  VkPhysicalDeviceShaderAtomicFloatFeaturesEXT faf{};
  VkPhysicalDeviceShaderSubgroupExtendedTypesFeatures fsext{};
  VkPhysicalDeviceCooperativeMatrixFeaturesKHR fcm{};
  VkPhysicalDeviceCooperativeMatrix2FeaturesNV fcm2{};
  bool has8bit = false, hasF16I8 = false, hasMM = false, hasSSC = false, hasDot = false, hasAF = false,
       hasSExt = false, hasCM = false, hasCM2 = false;
  // Properties.
  VkPhysicalDeviceSubgroupProperties subgroup{};
  VkPhysicalDeviceSubgroupSizeControlProperties ssc{};
  VkPhysicalDeviceDriverProperties driver{};
  VkPhysicalDevicePushDescriptorPropertiesKHR push{};
  bool hasDriver = false, hasPush = false;
  uint32_t multiprocessorCount = 0;
  std::vector<VkCooperativeMatrixPropertiesKHR> coopmat;
  /** Chosen compute queue family (-1 if none) and its timestampValidBits. */
  int queueFamily = -1;
  uint32_t timestampValidBits = 0;
};

/** The process-wide VkInstance (created on first use). Throws Error when Vulkan is unusable. */
VkInstance GetInstance(Napi::Env env);
/** All physical devices; throws "no Vulkan device found: ..." when there are none. */
std::vector<VkPhysicalDevice> EnumerateDevices(Napi::Env env);
/** Fill `caps` for device `index`. */
void QueryCaps(Napi::Env env, uint32_t index, VkPhysicalDevice phys, DeviceCaps& caps);
/** The DeviceInfo object of api.ts. */
Napi::Object DeviceInfoObject(Napi::Env env, const DeviceCaps& caps);
/** Destroy the instance at exit if no device is alive. */
void ShutdownInstance();

// ---------------------------------------------------------------- device.cc
struct Resource;

struct DeviceState {
  std::unique_ptr<DeviceCaps> caps;
  VkDevice device = VK_NULL_HANDLE;
  VkQueue queue = VK_NULL_HANDLE;
  uint32_t queueFamily = 0;
  bool alive = false;
  /** Set when a submission timed out: its work may still run, so Destroy() frees nothing (leaks the device). */
  bool hung = false;
  /** True when pipelines with <= maxPushDescriptors bindings use vkCmdPushDescriptorSetKHR. */
  bool pushDescriptors = false;
  uint32_t maxPushDescriptors = 0;
  PFN_vkCmdPushDescriptorSetKHR cmdPushDescriptorSet = nullptr;
  uint32_t maxPushConstants = 0;
  uint64_t minStorageOffsetAlign = 1;
  uint64_t maxStorageRange = 0;

  VkPipelineCache pipelineCache = VK_NULL_HANDLE;
  std::string cachePath;
  /** Whether pipelineCachePath held a valid cache that was loaded. */
  bool cacheLoaded = false;

  // Transfers (upload/download): one command buffer + fence + growable staging buffer.
  VkCommandPool xferPool = VK_NULL_HANDLE;
  VkCommandBuffer xferCmd = VK_NULL_HANDLE;
  VkFence xferFence = VK_NULL_HANDLE;
  VkBuffer staging = VK_NULL_HANDLE;
  VkDeviceMemory stagingMem = VK_NULL_HANDLE;
  uint8_t* stagingPtr = nullptr;
  uint64_t stagingSize = 0;
  uint64_t stagingCap = 0;  // chunk size limit, bytes
  bool stagingCoherent = true;

  std::unordered_set<Resource*> resources;

  ~DeviceState();
  /** Wait idle, release every resource, then staging, cache and the device. Idempotent. */
  void Destroy();
  /** Memory type index with all `required` flags (and `preferred` if possible), or -1. */
  int FindMemoryType(uint32_t typeBits, VkMemoryPropertyFlags required, VkMemoryPropertyFlags preferred) const;
};

/** Create the VkDevice (features, extensions, queue) for device `index`. */
std::shared_ptr<DeviceState> CreateDeviceState(Napi::Env env, uint32_t index, const std::string& cachePath);
/** Allocate a buffer with its own memory; `what` prefixes errors. */
void AllocBuffer(Napi::Env env, DeviceState& st, uint64_t bytes, VkBufferUsageFlags usage, bool hostVisible,
                 VkBuffer* buf, VkDeviceMemory* mem, bool* coherent);
/** Full memory barrier between compute/transfer/host stages. */
void CmdFullBarrier(VkCommandBuffer cmd, bool includeHost);
// A memory barrier from the `src` stages' writes to the `dst` stages' reads and writes (compute and/or transfer).
void CmdStageBarrier(VkCommandBuffer cmd, VkPipelineStageFlags src, VkPipelineStageFlags dst);

// ---------------------------------------------------------------- resources
struct Resource {
  Resource(std::shared_ptr<DeviceState> d, LiveKind k);
  virtual ~Resource();
  /** Free the Vulkan handles (if the device is alive) and unregister; idempotent. */
  void Release();
  std::shared_ptr<DeviceState> dev;
  LiveKind kind;
  bool released = false;

 protected:
  virtual void FreeVulkan() = 0;
};

struct BufferRes : Resource {
  BufferRes(std::shared_ptr<DeviceState> d) : Resource(std::move(d), kLiveBuffer) {}
  ~BufferRes() override { Release(); }
  VkBuffer buffer = VK_NULL_HANDLE;
  VkDeviceMemory memory = VK_NULL_HANDLE;
  uint64_t size = 0;
  // Host-visible buffers only: persistently mapped pointer and whether the memory is coherent.
  uint8_t* mapped = nullptr;
  bool coherent = true;

 protected:
  void FreeVulkan() override;
};

struct PipelineRes : Resource {
  PipelineRes(std::shared_ptr<DeviceState> d) : Resource(std::move(d), kLivePipeline) {}
  ~PipelineRes() override { Release(); }
  VkDescriptorSetLayout setLayout = VK_NULL_HANDLE;
  VkPipelineLayout layout = VK_NULL_HANDLE;
  VkPipeline pipeline = VK_NULL_HANDLE;
  uint32_t pushBytes = 0;
  uint32_t bindingCount = 0;
  bool usePush = false;

 protected:
  void FreeVulkan() override;
};

// ---------------------------------------------------------------- JS wrappers
struct AddonData {
  Napi::FunctionReference context, buffer, pipeline, sequence;
};
AddonData& Addon(Napi::Env env);

class ContextWrap : public Napi::ObjectWrap<ContextWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit ContextWrap(const Napi::CallbackInfo& info);
  ~ContextWrap() override;
  std::shared_ptr<DeviceState> st;
  /** The live DeviceState; Error if destroyed. */
  DeviceState& State(Napi::Env env);

 private:
  Napi::Value CreateBuffer(const Napi::CallbackInfo& info);
  Napi::Value Upload(const Napi::CallbackInfo& info);
  Napi::Value Download(const Napi::CallbackInfo& info);
  Napi::Value CreatePipeline(const Napi::CallbackInfo& info);
  Napi::Value CreateSequence(const Napi::CallbackInfo& info);
  Napi::Value SavePipelineCache(const Napi::CallbackInfo& info);
  Napi::Value Destroy(const Napi::CallbackInfo& info);
};

class BufferWrap : public Napi::ObjectWrap<BufferWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit BufferWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BufferWrap>(info) {}
  std::shared_ptr<BufferRes> res;
  double size = 0;
  bool destroyed = false;

 private:
  Napi::Value Size(const Napi::CallbackInfo& info);
  Napi::Value Read(const Napi::CallbackInfo& info);
  Napi::Value Write(const Napi::CallbackInfo& info);
  BufferRes& Mapped(Napi::Env env, const char* fn, uint64_t offset, uint64_t bytes);
  Napi::Value Destroy(const Napi::CallbackInfo& info);
};

class PipelineWrap : public Napi::ObjectWrap<PipelineWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit PipelineWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PipelineWrap>(info) {}
  std::shared_ptr<PipelineRes> res;
  bool destroyed = false;

 private:
  Napi::Value Destroy(const Napi::CallbackInfo& info);
};

/** A live buffer from a JS value; TypeError if not a GpuBuffer, Error if destroyed. */
std::shared_ptr<BufferRes> BufferArg(Napi::Env env, const Napi::Value& v, const std::string& what);
/** A live pipeline from a JS value; TypeError if not a Pipeline, Error if destroyed. */
std::shared_ptr<PipelineRes> PipelineArg(Napi::Env env, const Napi::Value& v, const std::string& what);

// buffer.cc
Napi::Value NewBuffer(Napi::Env env, const std::shared_ptr<DeviceState>& st, uint64_t bytes, bool hostVisible = false);
void UploadBytes(Napi::Env env, DeviceState& st, BufferRes& buf, const uint8_t* data, uint64_t bytes, uint64_t offset);
void DownloadBytes(Napi::Env env, DeviceState& st, BufferRes& buf, uint8_t* out, uint64_t bytes, uint64_t offset);
// pipeline.cc
Napi::Value NewPipeline(Napi::Env env, const std::shared_ptr<DeviceState>& st, const Napi::Value& desc);
void LoadPipelineCache(Napi::Env env, DeviceState& st);
void SavePipelineCache(Napi::Env env, DeviceState& st);
// sequence.cc
Napi::Function DefineSequence(Napi::Env env);
Napi::Value NewSequence(Napi::Env env, const std::shared_ptr<DeviceState>& st);

}  // namespace kpack
