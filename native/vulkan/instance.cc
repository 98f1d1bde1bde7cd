// VkInstance, physical-device enumeration and the DeviceInfo of api.ts.
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "kpack_vulkan.h"

namespace kpack {

static std::mutex g_instanceMutex;
static VkInstance g_instance = VK_NULL_HANDLE;
static uint32_t g_instanceVersion = VK_API_VERSION_1_0;

static const char* kNoDevice =
    "no Vulkan device found: install a Vulkan driver (mesa-vulkan-drivers for the CPU device lavapipe)";

VkInstance GetInstance(Napi::Env env) {
  std::lock_guard<std::mutex> lock(g_instanceMutex);
  if (g_instance) return g_instance;
  uint32_t loaderVersion = VK_API_VERSION_1_0;
  auto enumVersion = reinterpret_cast<PFN_vkEnumerateInstanceVersion>(
      vkGetInstanceProcAddr(VK_NULL_HANDLE, "vkEnumerateInstanceVersion"));
  if (enumVersion) enumVersion(&loaderVersion);
  if (loaderVersion < VK_API_VERSION_1_1)
    ThrowError(env, std::string(kNoDevice) + " (the Vulkan loader supports only Vulkan 1.0; 1.1+ is required)");
  uint32_t apiVersion = loaderVersion < VK_API_VERSION_1_3 ? loaderVersion : VK_API_VERSION_1_3;

  uint32_t n = 0;
  vkEnumerateInstanceExtensionProperties(nullptr, &n, nullptr);
  std::vector<VkExtensionProperties> avail(n);
  vkEnumerateInstanceExtensionProperties(nullptr, &n, avail.data());
  std::vector<const char*> exts;
  VkInstanceCreateFlags flags = 0;
  for (auto& e : avail) {
    if (!strcmp(e.extensionName, VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME)) {
      exts.push_back(VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME);
      flags |= VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR;
    }
  }
  // KPACK_VULKAN_VALIDATION=1 enables the Khronos validation layer when installed (debugging aid).
  std::vector<const char*> layers;
  const char* val = std::getenv("KPACK_VULKAN_VALIDATION");
  if (val && *val && strcmp(val, "0") != 0) {
    vkEnumerateInstanceLayerProperties(&n, nullptr);
    std::vector<VkLayerProperties> lp(n);
    vkEnumerateInstanceLayerProperties(&n, lp.data());
    for (auto& l : lp)
      if (!strcmp(l.layerName, "VK_LAYER_KHRONOS_validation")) layers.push_back("VK_LAYER_KHRONOS_validation");
  }

  VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.pApplicationName = "kpack";
  app.pEngineName = "kpack";
  app.apiVersion = apiVersion;
  VkInstanceCreateInfo ci{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  ci.flags = flags;
  ci.pApplicationInfo = &app;
  ci.enabledExtensionCount = static_cast<uint32_t>(exts.size());
  ci.ppEnabledExtensionNames = exts.data();
  ci.enabledLayerCount = static_cast<uint32_t>(layers.size());
  ci.ppEnabledLayerNames = layers.data();
  VkResult r = vkCreateInstance(&ci, nullptr, &g_instance);
  if (r != VK_SUCCESS) {
    g_instance = VK_NULL_HANDLE;
    ThrowError(env, std::string(kNoDevice) + " (vkCreateInstance failed: " +
                        (VkResultName(r) ? VkResultName(r) : std::to_string(r)) + ")");
  }
  g_instanceVersion = apiVersion;
  return g_instance;
}

void ShutdownInstance() {
  std::lock_guard<std::mutex> lock(g_instanceMutex);
  if (g_instance && LiveCount(kLiveContext) == 0) {
    vkDestroyInstance(g_instance, nullptr);
    g_instance = VK_NULL_HANDLE;
  }
}

std::vector<VkPhysicalDevice> EnumerateDevices(Napi::Env env) {
  VkInstance inst = GetInstance(env);
  uint32_t n = 0;
  VkResult r = vkEnumeratePhysicalDevices(inst, &n, nullptr);
  if (r != VK_SUCCESS && r != VK_INCOMPLETE) ThrowVk(env, "vkEnumeratePhysicalDevices", r);
  std::vector<VkPhysicalDevice> devs(n);
  if (n) {
    r = vkEnumeratePhysicalDevices(inst, &n, devs.data());
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) ThrowVk(env, "vkEnumeratePhysicalDevices", r);
    devs.resize(n);
  }
  if (devs.empty()) ThrowError(env, kNoDevice);
  return devs;
}

// Append `s` to the pNext chain whose tail is *tail.
template <typename T>
static void Chain(void**& tail, T& s, VkStructureType type) {
  s.sType = type;
  s.pNext = nullptr;
  *tail = &s;
  tail = &s.pNext;
}

void QueryCaps(Napi::Env env, uint32_t index, VkPhysicalDevice phys, DeviceCaps& c) {
  VkInstance inst = GetInstance(env);
  c.phys = phys;
  c.index = index;
  vkGetPhysicalDeviceProperties(phys, &c.props);
  vkGetPhysicalDeviceMemoryProperties(phys, &c.mem);
  c.apiVersion = c.props.apiVersion < g_instanceVersion ? c.props.apiVersion : g_instanceVersion;
  uint32_t n = 0;
  vkEnumerateDeviceExtensionProperties(phys, nullptr, &n, nullptr);
  std::vector<VkExtensionProperties> exts(n);
  vkEnumerateDeviceExtensionProperties(phys, nullptr, &n, exts.data());
  for (uint32_t i = 0; i < n; i++) c.exts.insert(exts[i].extensionName);
  const bool v12 = c.apiVersion >= VK_API_VERSION_1_2, v13 = c.apiVersion >= VK_API_VERSION_1_3;

  // Features.
  c.f2 = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
  void** tail = &c.f2.pNext;
  Chain(tail, c.f16s, VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES);
  if ((c.has8bit = v12 || c.has(VK_KHR_8BIT_STORAGE_EXTENSION_NAME)))
    Chain(tail, c.f8s, VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_8BIT_STORAGE_FEATURES);
  if ((c.hasF16I8 = v12 || c.has(VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME)))
    Chain(tail, c.f16i8, VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES);
  if ((c.hasMM = v12 || c.has(VK_KHR_VULKAN_MEMORY_MODEL_EXTENSION_NAME)))
    Chain(tail, c.fmm, VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_MEMORY_MODEL_FEATURES);
  if ((c.hasSExt = v12 || c.has(VK_KHR_SHADER_SUBGROUP_EXTENDED_TYPES_EXTENSION_NAME)))
    Chain(tail, c.fsext, VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_SUBGROUP_EXTENDED_TYPES_FEATURES);
  if ((c.hasSSC = v13 || c.has(VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME)))
    Chain(tail, c.fssc, VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES);
  if ((c.hasDot = v13 || c.has(VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME)))
    Chain(tail, c.fdot, VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES);
  if ((c.hasAF = c.has(VK_EXT_SHADER_ATOMIC_FLOAT_EXTENSION_NAME)))
    Chain(tail, c.faf, VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_ATOMIC_FLOAT_FEATURES_EXT);
  if ((c.hasCM = c.has(VK_KHR_COOPERATIVE_MATRIX_EXTENSION_NAME)))
    Chain(tail, c.fcm, VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_KHR);
  if ((c.hasCM2 = c.has(VK_NV_COOPERATIVE_MATRIX_2_EXTENSION_NAME)))
    Chain(tail, c.fcm2, VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_2_FEATURES_NV);
  vkGetPhysicalDeviceFeatures2(phys, &c.f2);

  // Properties.
  VkPhysicalDeviceProperties2 p2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
  tail = &p2.pNext;
  Chain(tail, c.subgroup, VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES);
  if (c.hasSSC) Chain(tail, c.ssc, VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES);
  if ((c.hasDriver = v12 || c.has(VK_KHR_DRIVER_PROPERTIES_EXTENSION_NAME)))
    Chain(tail, c.driver, VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES);
  if ((c.hasPush = c.has(VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME)))
    Chain(tail, c.push, VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PUSH_DESCRIPTOR_PROPERTIES_KHR);
  VkPhysicalDeviceShaderSMBuiltinsPropertiesNV nvsm{};
  VkPhysicalDeviceShaderCorePropertiesAMD amd{};
  VkPhysicalDeviceShaderCoreBuiltinsPropertiesARM arm{};
  const bool hasNv = c.has(VK_NV_SHADER_SM_BUILTINS_EXTENSION_NAME);
  const bool hasAmd = c.has(VK_AMD_SHADER_CORE_PROPERTIES_EXTENSION_NAME);
  const bool hasArm = c.has(VK_ARM_SHADER_CORE_BUILTINS_EXTENSION_NAME);
  if (hasNv) Chain(tail, nvsm, VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_SM_BUILTINS_PROPERTIES_NV);
  if (hasAmd) Chain(tail, amd, VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_CORE_PROPERTIES_AMD);
  if (hasArm) Chain(tail, arm, VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_CORE_BUILTINS_PROPERTIES_ARM);
  vkGetPhysicalDeviceProperties2(phys, &p2);
  c.subgroup.pNext = c.ssc.pNext = c.driver.pNext = c.push.pNext = nullptr;
  if (hasNv) c.multiprocessorCount = nvsm.shaderSMCount;
  else if (hasAmd)
    c.multiprocessorCount = amd.shaderEngineCount * amd.shaderArraysPerEngineCount * amd.computeUnitsPerShaderArray;
  else if (hasArm) c.multiprocessorCount = arm.shaderCoreCount;

  // Cooperative-matrix shapes.
  if (c.hasCM && c.fcm.cooperativeMatrix) {
    auto fn = reinterpret_cast<PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR>(
        vkGetInstanceProcAddr(inst, "vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR"));
    uint32_t m = 0;
    if (fn && fn(phys, &m, nullptr) == VK_SUCCESS && m) {
      c.coopmat.assign(m, VkCooperativeMatrixPropertiesKHR{VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_KHR});
      if (fn(phys, &m, c.coopmat.data()) != VK_SUCCESS) m = 0;
      c.coopmat.resize(m);
    }
  }

  // Compute queue family: the first with COMPUTE, preferring one with timestamps.
  vkGetPhysicalDeviceQueueFamilyProperties(phys, &n, nullptr);
  std::vector<VkQueueFamilyProperties> q(n);
  vkGetPhysicalDeviceQueueFamilyProperties(phys, &n, q.data());
  for (uint32_t i = 0; i < n; i++) {
    if (!(q[i].queueFlags & VK_QUEUE_COMPUTE_BIT) || q[i].queueCount == 0) continue;
    if (c.queueFamily < 0 || (c.timestampValidBits == 0 && q[i].timestampValidBits > 0)) {
      c.queueFamily = static_cast<int>(i);
      c.timestampValidBits = q[i].timestampValidBits;
    }
  }
}

static const char* ComponentName(VkComponentTypeKHR t) {
  switch (static_cast<int>(t)) {
    case VK_COMPONENT_TYPE_FLOAT16_KHR: return "f16";
    case VK_COMPONENT_TYPE_FLOAT32_KHR: return "f32";
    case KPACK_COMPONENT_TYPE_BFLOAT16: return "bf16";
    case VK_COMPONENT_TYPE_SINT8_KHR: return "i8";
    case VK_COMPONENT_TYPE_UINT8_KHR: return "u8";
    case VK_COMPONENT_TYPE_SINT32_KHR: return "i32";
    case VK_COMPONENT_TYPE_UINT32_KHR: return "u32";
    default: return "other";
  }
}

static const char* ScopeName(VkScopeKHR s) {
  switch (s) {
    case VK_SCOPE_SUBGROUP_KHR: return "subgroup";
    case VK_SCOPE_WORKGROUP_KHR: return "workgroup";
    case VK_SCOPE_DEVICE_KHR: return "device";
    case VK_SCOPE_QUEUE_FAMILY_KHR: return "queuefamily";
    default: return "other";
  }
}

static Napi::Array Triple(Napi::Env env, const uint32_t v[3]) {
  Napi::Array a = Napi::Array::New(env, 3);
  for (uint32_t i = 0; i < 3; i++) a.Set(i, Napi::Number::New(env, v[i]));
  return a;
}

Napi::Object DeviceInfoObject(Napi::Env env, const DeviceCaps& c) {
  const VkPhysicalDeviceProperties& p = c.props;
  const VkPhysicalDeviceLimits& l = p.limits;
  Napi::Object o = Napi::Object::New(env);
  o.Set("index", c.index);
  o.Set("name", p.deviceName);
  o.Set("vendorId", p.vendorID);
  o.Set("deviceId", p.deviceID);
  const char* type = "other";
  switch (p.deviceType) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: type = "discrete"; break;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: type = "integrated"; break;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: type = "virtual"; break;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: type = "cpu"; break;
    default: break;
  }
  o.Set("deviceType", type);
  o.Set("driverName", c.hasDriver ? c.driver.driverName : "");
  o.Set("driverInfo", c.hasDriver ? c.driver.driverInfo : "");
  o.Set("driverVersion", p.driverVersion);
  o.Set("apiVersion", std::to_string(VK_API_VERSION_MAJOR(p.apiVersion)) + "." +
                          std::to_string(VK_API_VERSION_MINOR(p.apiVersion)) + "." +
                          std::to_string(VK_API_VERSION_PATCH(p.apiVersion)));
  o.Set("subgroupSize", c.subgroup.subgroupSize);
  o.Set("maxSharedMemoryBytes", l.maxComputeSharedMemorySize);
  o.Set("maxWorkgroupInvocations", l.maxComputeWorkGroupInvocations);
  o.Set("maxWorkgroupSize", Triple(env, l.maxComputeWorkGroupSize));
  o.Set("maxWorkgroupCount", Triple(env, l.maxComputeWorkGroupCount));
  o.Set("maxPushConstantsBytes", l.maxPushConstantsSize);
  o.Set("maxStorageBufferRange", l.maxStorageBufferRange);
  o.Set("timestampPeriod", static_cast<double>(l.timestampPeriod));
  o.Set("timestamps", c.timestampValidBits > 0);

  Napi::Array heaps = Napi::Array::New(env, c.mem.memoryHeapCount);
  for (uint32_t i = 0; i < c.mem.memoryHeapCount; i++) {
    Napi::Object h = Napi::Object::New(env);
    h.Set("size", static_cast<double>(c.mem.memoryHeaps[i].size));
    h.Set("deviceLocal", (c.mem.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) != 0);
    heaps.Set(i, h);
  }
  o.Set("memoryHeaps", heaps);

  Napi::Array shapes = Napi::Array::New(env, c.coopmat.size());
  for (size_t i = 0; i < c.coopmat.size(); i++) {
    const VkCooperativeMatrixPropertiesKHR& m = c.coopmat[i];
    Napi::Object s = Napi::Object::New(env);
    s.Set("M", m.MSize);
    s.Set("N", m.NSize);
    s.Set("K", m.KSize);
    s.Set("aType", ComponentName(m.AType));
    s.Set("bType", ComponentName(m.BType));
    s.Set("cType", ComponentName(m.CType));
    s.Set("resultType", ComponentName(m.ResultType));
    s.Set("scope", ScopeName(m.scope));
    shapes.Set(static_cast<uint32_t>(i), s);
  }
  o.Set("coopmatShapes", shapes);

  const VkPhysicalDeviceSubgroupProperties& sg = c.subgroup;
  const VkPhysicalDeviceCooperativeMatrix2FeaturesNV& cm2 = c.fcm2;
  Napi::Object feat = Napi::Object::New(env);
  feat.Set("shaderFloat16", c.hasF16I8 && c.f16i8.shaderFloat16);
  feat.Set("storageBuffer16BitAccess", c.f16s.storageBuffer16BitAccess != 0);
  feat.Set("shaderInt8", c.hasF16I8 && c.f16i8.shaderInt8);
  feat.Set("storageBuffer8BitAccess", c.has8bit && c.f8s.storageBuffer8BitAccess);
  feat.Set("integerDotProduct", c.hasDot && c.fdot.shaderIntegerDotProduct);
  feat.Set("atomicFloatAdd", c.hasAF && c.faf.shaderBufferFloat32AtomicAdd);
  feat.Set("coopmat", c.hasCM && c.fcm.cooperativeMatrix);
  feat.Set("coopmat2", c.hasCM2 && (cm2.cooperativeMatrixWorkgroupScope || cm2.cooperativeMatrixFlexibleDimensions ||
                                    cm2.cooperativeMatrixTensorAddressing || cm2.cooperativeMatrixBlockLoads));
  feat.Set("subgroupArithmetic", (sg.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT) &&
                                     (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT));
  feat.Set("pushDescriptor", c.hasPush);
  o.Set("features", feat);
  o.Set("multiprocessorCount", c.multiprocessorCount);
  return o;
}

}  // namespace kpack
