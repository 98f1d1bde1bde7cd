// VkDevice creation (features/extensions/queue), device teardown, memory helpers, Resource base.
#include <cstdlib>
#include <cstring>

#include "kpack_vulkan.h"

namespace kpack {

static bool EnvFlag(const char* name) {
  const char* v = std::getenv(name);
  return v && *v && strcmp(v, "0") != 0;
}

template <typename T>
static void Link(void**& tail, T& s) {
  s.pNext = nullptr;
  *tail = &s;
  tail = &s.pNext;
}

std::shared_ptr<DeviceState> CreateDeviceState(Napi::Env env, uint32_t index, const std::string& cachePath) {
  std::vector<VkPhysicalDevice> devs = EnumerateDevices(env);
  if (index >= devs.size())
    ThrowRange(env, "createContext: deviceIndex " + std::to_string(index) + " out of range (" +
                        std::to_string(devs.size()) + " device(s))");
  auto st = std::make_shared<DeviceState>();
  st->caps = std::make_unique<DeviceCaps>();
  DeviceCaps& c = *st->caps;
  QueryCaps(env, index, devs[index], c);
  if (c.queueFamily < 0) ThrowError(env, std::string("createContext: device ") + c.props.deviceName + " has no compute queue");
  const bool v12 = c.apiVersion >= VK_API_VERSION_1_2, v13 = c.apiVersion >= VK_API_VERSION_1_3;

  // Extensions.
  std::vector<const char*> exts;
  auto want = [&](const char* name) {
    if (c.has(name)) {
      exts.push_back(name);
      return true;
    }
    return false;
  };
  const bool push = !EnvFlag("KPACK_VULKAN_NO_PUSH_DESCRIPTOR") && want(VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME);
  const bool cm = c.hasCM && c.fcm.cooperativeMatrix && want(VK_KHR_COOPERATIVE_MATRIX_EXTENSION_NAME);
  const bool cm2 = cm && c.hasCM2 && want(VK_NV_COOPERATIVE_MATRIX_2_EXTENSION_NAME);
  if (!v12) {
    want(VK_KHR_8BIT_STORAGE_EXTENSION_NAME);
    want(VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME);
    want(VK_KHR_VULKAN_MEMORY_MODEL_EXTENSION_NAME);
    want(VK_KHR_SHADER_SUBGROUP_EXTENDED_TYPES_EXTENSION_NAME);
  }
  if (!v13) {
    want(VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME);
    want(VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME);
  }
  want(VK_KHR_PORTABILITY_SUBSET_EXTENSION_NAME);  // must be enabled when present
  const bool af = c.hasAF && c.faf.shaderBufferFloat32AtomicAdd && want(VK_EXT_SHADER_ATOMIC_FLOAT_EXTENSION_NAME);

  // Features: every supported bit of the structs kernels use (robust buffer access off).
  VkPhysicalDeviceFeatures2 f2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
  f2.features.shaderInt16 = c.f2.features.shaderInt16;
  f2.features.shaderInt64 = c.f2.features.shaderInt64;
  f2.features.shaderFloat64 = c.f2.features.shaderFloat64;
  f2.features.shaderStorageBufferArrayDynamicIndexing = c.f2.features.shaderStorageBufferArrayDynamicIndexing;
  VkPhysicalDevice16BitStorageFeatures f16s = c.f16s;
  VkPhysicalDevice8BitStorageFeatures f8s = c.f8s;
  VkPhysicalDeviceShaderFloat16Int8Features f16i8 = c.f16i8;
  VkPhysicalDeviceVulkanMemoryModelFeatures fmm = c.fmm;
  VkPhysicalDeviceShaderSubgroupExtendedTypesFeatures fsext = c.fsext;
  VkPhysicalDeviceSubgroupSizeControlFeatures fssc = c.fssc;
  VkPhysicalDeviceShaderIntegerDotProductFeatures fdot = c.fdot;
  VkPhysicalDeviceShaderAtomicFloatFeaturesEXT faf = c.faf;
  VkPhysicalDeviceCooperativeMatrixFeaturesKHR fcm = c.fcm;
  VkPhysicalDeviceCooperativeMatrix2FeaturesNV fcm2 = c.fcm2;
  fcm.cooperativeMatrixRobustBufferAccess = VK_FALSE;
  void** tail = &f2.pNext;
  Link(tail, f16s);
  if (c.has8bit) Link(tail, f8s);
  if (c.hasF16I8) Link(tail, f16i8);
  if (c.hasMM) Link(tail, fmm);
  if (c.hasSExt) Link(tail, fsext);
  if (c.hasSSC) Link(tail, fssc);
  if (c.hasDot) Link(tail, fdot);
  if (af) Link(tail, faf);
  if (cm) Link(tail, fcm);
  if (cm2) Link(tail, fcm2);

  float priority = 1.0f;
  VkDeviceQueueCreateInfo qci{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
  qci.queueFamilyIndex = static_cast<uint32_t>(c.queueFamily);
  qci.queueCount = 1;
  qci.pQueuePriorities = &priority;
  VkDeviceCreateInfo dci{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
  dci.pNext = &f2;
  dci.queueCreateInfoCount = 1;
  dci.pQueueCreateInfos = &qci;
  dci.enabledExtensionCount = static_cast<uint32_t>(exts.size());
  dci.ppEnabledExtensionNames = exts.data();
  VkResult r = vkCreateDevice(c.phys, &dci, nullptr, &st->device);
  if (r != VK_SUCCESS) {
    st->device = VK_NULL_HANDLE;
    ThrowVk(env, "vkCreateDevice", r, c.props.deviceName);
  }
  st->alive = true;
  LiveAdd(kLiveContext, 1);
  // From here on, a throw destroys the device through ~DeviceState.
  st->queueFamily = static_cast<uint32_t>(c.queueFamily);
  vkGetDeviceQueue(st->device, st->queueFamily, 0, &st->queue);
  if (push) {
    st->cmdPushDescriptorSet = reinterpret_cast<PFN_vkCmdPushDescriptorSetKHR>(
        vkGetDeviceProcAddr(st->device, "vkCmdPushDescriptorSetKHR"));
    st->pushDescriptors = st->cmdPushDescriptorSet != nullptr;
    st->maxPushDescriptors = c.push.maxPushDescriptors;
  }
  st->maxPushConstants = c.props.limits.maxPushConstantsSize;
  st->minStorageOffsetAlign = c.props.limits.minStorageBufferOffsetAlignment;
  st->maxStorageRange = c.props.limits.maxStorageBufferRange;

  // Staging chunk size: KPACK_VULKAN_STAGING_BYTES (default 64 MiB, at least 4 KiB).
  st->stagingCap = 64ull << 20;
  if (const char* s = std::getenv("KPACK_VULKAN_STAGING_BYTES")) {
    unsigned long long v = std::strtoull(s, nullptr, 10);
    if (v) st->stagingCap = v < 4096 ? 4096 : v;
  }

  VkCommandPoolCreateInfo pci{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  pci.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
  pci.queueFamilyIndex = st->queueFamily;
  Check(env, vkCreateCommandPool(st->device, &pci, nullptr, &st->xferPool), "vkCreateCommandPool");
  VkCommandBufferAllocateInfo cai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
  cai.commandPool = st->xferPool;
  cai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  cai.commandBufferCount = 1;
  Check(env, vkAllocateCommandBuffers(st->device, &cai, &st->xferCmd), "vkAllocateCommandBuffers");
  VkFenceCreateInfo fci{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  Check(env, vkCreateFence(st->device, &fci, nullptr, &st->xferFence), "vkCreateFence");

  st->cachePath = cachePath;
  LoadPipelineCache(env, *st);
  return st;
}

DeviceState::~DeviceState() { Destroy(); }

void DeviceState::Destroy() {
  if (!device) return;
  if (hung) {  // waiting for idle would never return; the process is expected to exit
    alive = false;  // resources released later free nothing
    device = VK_NULL_HANDLE;
    return;
  }
  vkDeviceWaitIdle(device);
  // Release() unregisters; cascaded releases (a sequence dropping its buffers) unregister too.
  while (!resources.empty()) (*resources.begin())->Release();
  if (stagingPtr) vkUnmapMemory(device, stagingMem);
  if (staging) vkDestroyBuffer(device, staging, nullptr);
  if (stagingMem) vkFreeMemory(device, stagingMem, nullptr);
  if (xferFence) vkDestroyFence(device, xferFence, nullptr);
  if (xferPool) vkDestroyCommandPool(device, xferPool, nullptr);
  if (pipelineCache) vkDestroyPipelineCache(device, pipelineCache, nullptr);
  vkDestroyDevice(device, nullptr);
  stagingPtr = nullptr;
  staging = VK_NULL_HANDLE;
  stagingMem = VK_NULL_HANDLE;
  stagingSize = 0;
  xferFence = VK_NULL_HANDLE;
  xferPool = VK_NULL_HANDLE;
  xferCmd = VK_NULL_HANDLE;
  pipelineCache = VK_NULL_HANDLE;
  device = VK_NULL_HANDLE;
  queue = VK_NULL_HANDLE;
  alive = false;
  LiveAdd(kLiveContext, -1);
}

int DeviceState::FindMemoryType(uint32_t typeBits, VkMemoryPropertyFlags required,
                                VkMemoryPropertyFlags preferred) const {
  const VkPhysicalDeviceMemoryProperties& m = caps->mem;
  int fallback = -1;
  for (uint32_t i = 0; i < m.memoryTypeCount; i++) {
    if (!(typeBits & (1u << i))) continue;
    VkMemoryPropertyFlags f = m.memoryTypes[i].propertyFlags;
    if ((f & required) != required) continue;
    if ((f & preferred) == preferred) return static_cast<int>(i);
    if (fallback < 0) fallback = static_cast<int>(i);
  }
  return fallback;
}

void AllocBuffer(Napi::Env env, DeviceState& st, uint64_t bytes, VkBufferUsageFlags usage, bool hostVisible,
                 VkBuffer* buf, VkDeviceMemory* mem, bool* coherent) {
  VkBufferCreateInfo bci{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  bci.size = bytes;
  bci.usage = usage;
  bci.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  VkResult r = vkCreateBuffer(st.device, &bci, nullptr, buf);
  if (r != VK_SUCCESS) {
    *buf = VK_NULL_HANDLE;
    ThrowVk(env, "vkCreateBuffer", r, std::to_string(bytes) + " bytes");
  }
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(st.device, *buf, &req);
  int type;
  if (hostVisible) {
    type = st.FindMemoryType(req.memoryTypeBits, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT,
                             VK_MEMORY_PROPERTY_HOST_COHERENT_BIT | VK_MEMORY_PROPERTY_HOST_CACHED_BIT);
  } else {
    type = st.FindMemoryType(req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0);
    if (type < 0) type = st.FindMemoryType(req.memoryTypeBits, 0, 0);
  }
  if (type < 0) {
    vkDestroyBuffer(st.device, *buf, nullptr);
    *buf = VK_NULL_HANDLE;
    ThrowError(env, "no suitable Vulkan memory type for a " + std::string(hostVisible ? "host-visible" : "device") +
                        " buffer");
  }
  if (coherent) *coherent = (st.caps->mem.memoryTypes[type].propertyFlags & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT) != 0;
  VkMemoryAllocateInfo mai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
  mai.allocationSize = req.size;
  mai.memoryTypeIndex = static_cast<uint32_t>(type);
  r = vkAllocateMemory(st.device, &mai, nullptr, mem);
  if (r == VK_SUCCESS) {
    r = vkBindBufferMemory(st.device, *buf, *mem, 0);
    if (r != VK_SUCCESS) {
      vkFreeMemory(st.device, *mem, nullptr);
      vkDestroyBuffer(st.device, *buf, nullptr);
      *buf = VK_NULL_HANDLE;
      *mem = VK_NULL_HANDLE;
      ThrowVk(env, "vkBindBufferMemory", r);
    }
    return;
  }
  vkDestroyBuffer(st.device, *buf, nullptr);
  *buf = VK_NULL_HANDLE;
  *mem = VK_NULL_HANDLE;
  ThrowVk(env, "vkAllocateMemory", r, std::to_string(bytes) + " bytes");
}

void CmdFullBarrier(VkCommandBuffer cmd, bool includeHost) {
  VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  mb.srcAccessMask = VK_ACCESS_MEMORY_WRITE_BIT;
  mb.dstAccessMask = VK_ACCESS_MEMORY_READ_BIT | VK_ACCESS_MEMORY_WRITE_BIT;
  VkPipelineStageFlags stages = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
  VkPipelineStageFlags dst = stages | (includeHost ? VK_PIPELINE_STAGE_HOST_BIT : 0);
  vkCmdPipelineBarrier(cmd, stages, dst, 0, 1, &mb, 0, nullptr, 0, nullptr);
}

void CmdStageBarrier(VkCommandBuffer cmd, VkPipelineStageFlags src, VkPipelineStageFlags dst) {
  VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  mb.srcAccessMask = (src & VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT ? VK_ACCESS_SHADER_WRITE_BIT : 0) |
                     (src & VK_PIPELINE_STAGE_TRANSFER_BIT ? VK_ACCESS_TRANSFER_WRITE_BIT : 0);
  mb.dstAccessMask = (dst & VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT ? VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT : 0) |
                     (dst & VK_PIPELINE_STAGE_TRANSFER_BIT ? VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT : 0);
  vkCmdPipelineBarrier(cmd, src, dst, 0, 1, &mb, 0, nullptr, 0, nullptr);
}

Resource::Resource(std::shared_ptr<DeviceState> d, LiveKind k) : dev(std::move(d)), kind(k) {
  dev->resources.insert(this);
  LiveAdd(kind, 1);
}

Resource::~Resource() {
  // Derived destructors call Release(); this only guards against a missed call.
  if (!released) {
    released = true;
    dev->resources.erase(this);
    LiveAdd(kind, -1);
  }
}

void Resource::Release() {
  if (released) return;
  released = true;
  dev->resources.erase(this);
  if (dev->alive) FreeVulkan();
  LiveAdd(kind, -1);
}

}  // namespace kpack
