// Compute pipelines (SPIR-V + specialization constants + push constants + storage-buffer set 0)
// and the on-disk VkPipelineCache.
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <unordered_map>

#include "kpack_vulkan.h"

namespace kpack {

void PipelineRes::FreeVulkan() {
  VkDevice d = dev->device;
  if (pipeline) vkDestroyPipeline(d, pipeline, nullptr);
  if (layout) vkDestroyPipelineLayout(d, layout, nullptr);
  if (setLayout) vkDestroyDescriptorSetLayout(d, setLayout, nullptr);
  pipeline = VK_NULL_HANDLE;
  layout = VK_NULL_HANDLE;
  setLayout = VK_NULL_HANDLE;
}

Napi::Function PipelineWrap::Define(Napi::Env env) {
  return DefineClass(env, "Pipeline", {InstanceMethod<&PipelineWrap::Destroy>("destroy")});
}

Napi::Value PipelineWrap::Destroy(const Napi::CallbackInfo& info) {
  destroyed = true;
  res.reset();  // frees now unless a recorded Sequence still references the pipeline
  return info.Env().Undefined();
}

std::shared_ptr<PipelineRes> PipelineArg(Napi::Env env, const Napi::Value& v, const std::string& what) {
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(Addon(env).pipeline.Value()))
    ThrowType(env, what + " must be a Pipeline");
  PipelineWrap* w = PipelineWrap::Unwrap(v.As<Napi::Object>());
  if (w->destroyed || !w->res) ThrowError(env, what + ": Pipeline used after destroy()");
  if (w->res->released) ThrowError(env, what + ": Pipeline used after its Context was destroyed");
  return w->res;
}

// Structural SPIR-V check (drivers may crash on malformed modules): header, instruction lengths and a
// GLCompute OpEntryPoint named `entry`.
// For SPIR-V >= 1.4 (entry-point interfaces list every used global) also checks that each storage
// binding the entry point uses is in set 0 and below `bindingCount`: drivers without validation layers
// would otherwise read garbage descriptors.
static void ValidateSpirv(Napi::Env env, const std::vector<uint32_t>& w, const std::string& entry,
                          uint32_t bindingCount) {
  const std::string pre = "vkCreateShaderModule: invalid SPIR-V: ";
  if (w.size() < 5) ThrowError(env, pre + "shorter than the 5-word header");
  if (w[0] != 0x07230203u) {
    char buf[16];
    snprintf(buf, sizeof buf, "0x%08x", w[0]);
    ThrowError(env, pre + "bad magic number " + buf + " (expected 0x07230203)");
  }
  bool found = false, anyCompute = false;
  std::vector<uint32_t> iface;
  std::unordered_map<uint32_t, uint32_t> binding, set;
  for (size_t i = 5; i < w.size();) {
    uint32_t count = w[i] >> 16, op = w[i] & 0xFFFFu;
    if (count == 0 || i + count > w.size())
      ThrowError(env, pre + "malformed instruction at word " + std::to_string(i));
    if (op == 15 /* OpEntryPoint */ && count >= 4 && w[i + 1] == 5 /* GLCompute */) {
      anyCompute = true;
      const char* name = reinterpret_cast<const char*>(&w[i + 3]);
      size_t maxLen = (count - 3) * 4;
      size_t len = strnlen(name, maxLen);
      if (len < maxLen && entry == name) {
        found = true;
        for (size_t k = i + 3 + (len + 4) / 4; k < i + count; k++) iface.push_back(w[k]);
      }
    }
    if (op == 71 /* OpDecorate */ && count == 4 && w[i + 2] == 33 /* Binding */) binding[w[i + 1]] = w[i + 3];
    if (op == 71 && count == 4 && w[i + 2] == 34 /* DescriptorSet */) set[w[i + 1]] = w[i + 3];
    i += count;
  }
  if (!anyCompute) ThrowError(env, pre + "no GLCompute OpEntryPoint");
  if (!found) ThrowError(env, pre + "no GLCompute entry point named \"" + entry + "\"");
  if (w[1] < 0x00010400u) return;
  for (uint32_t id : iface) {
    auto b = binding.find(id);
    if (b == binding.end()) continue;
    uint32_t s = set.count(id) ? set[id] : 0;
    if (s != 0)
      ThrowError(env, "createPipeline: the shader uses descriptor set " + std::to_string(s) + "; only set 0 is supported");
    if (b->second >= bindingCount)
      ThrowError(env, "createPipeline: the shader uses binding " + std::to_string(b->second) +
                          " but desc.bindingCount is " + std::to_string(bindingCount));
  }
}

static uint32_t SpecBits(Napi::Env env, const Napi::Value& item, size_t i) {
  const std::string what = "desc.specConstants[" + std::to_string(i) + "]";
  if (!item.IsObject()) ThrowType(env, what + " must be an object {id, value, type}");
  Napi::Object o = item.As<Napi::Object>();
  std::string type = "u32";
  Napi::Value t = o.Get("type");
  if (!t.IsUndefined()) {
    if (!t.IsString()) ThrowType(env, what + ".type must be 'u32' | 'i32' | 'f32' | 'bool'");
    type = t.As<Napi::String>().Utf8Value();
  }
  Napi::Value v = o.Get("value");
  if (type == "bool" && v.IsBoolean()) return v.As<Napi::Boolean>().Value() ? 1u : 0u;
  if (!v.IsNumber()) ThrowType(env, what + ".value must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (type == "f32") {
    float f = static_cast<float>(d);
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    return bits;
  }
  if (type == "bool") return d != 0 ? 1u : 0u;
  if (!std::isfinite(d) || std::floor(d) != d) ThrowType(env, what + ".value must be an integer for type " + type);
  if (type == "u32") {
    if (d < 0 || d > 4294967295.0) ThrowType(env, what + ".value out of range for u32");
    return static_cast<uint32_t>(d);
  }
  if (type == "i32") {
    if (d < -2147483648.0 || d > 2147483647.0) ThrowType(env, what + ".value out of range for i32");
    return static_cast<uint32_t>(static_cast<int32_t>(d));
  }
  ThrowType(env, what + ".type must be 'u32' | 'i32' | 'f32' | 'bool' (got '" + type + "')");
}

Napi::Value NewPipeline(Napi::Env env, const std::shared_ptr<DeviceState>& st, const Napi::Value& descV) {
  if (!descV.IsObject()) ThrowType(env, "createPipeline: desc must be an object");
  Napi::Object desc = descV.As<Napi::Object>();
  ByteView spv = ArgBytes(env, desc.Get("spirv"), "desc.spirv");
  if (spv.size == 0 || spv.size % 4) ThrowType(env, "desc.spirv length must be a non-zero multiple of 4 bytes");
  std::vector<uint32_t> words(spv.size / 4);
  std::memcpy(words.data(), spv.data, spv.size);
  std::string entry = "main";
  Napi::Value e = desc.Get("entry");
  if (!e.IsUndefined() && !e.IsNull()) {
    if (!e.IsString()) ThrowType(env, "desc.entry must be a string");
    entry = e.As<Napi::String>().Utf8Value();
  }
  std::vector<VkSpecializationMapEntry> entries;
  std::vector<uint32_t> specData;
  Napi::Value sc = desc.Get("specConstants");
  if (!sc.IsUndefined() && !sc.IsNull()) {
    if (!sc.IsArray()) ThrowType(env, "desc.specConstants must be an array");
    Napi::Array a = sc.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Value item = a.Get(i);
      uint32_t bits = SpecBits(env, item, i);
      uint32_t id = ArgU32(env, item.As<Napi::Object>().Get("id"), "desc.specConstants[" + std::to_string(i) + "].id");
      entries.push_back({id, static_cast<uint32_t>(specData.size() * 4), 4});
      specData.push_back(bits);
    }
  }
  uint32_t pushBytes = ArgU32(env, desc.Get("pushConstantBytes"), "desc.pushConstantBytes");
  if (pushBytes % 4) ThrowType(env, "desc.pushConstantBytes must be a multiple of 4");
  if (pushBytes > st->maxPushConstants)
    ThrowRange(env, "desc.pushConstantBytes " + std::to_string(pushBytes) + " exceeds maxPushConstantsSize " +
                        std::to_string(st->maxPushConstants));
  uint32_t bindingCount = ArgU32(env, desc.Get("bindingCount"), "desc.bindingCount");
  const VkPhysicalDeviceLimits& lim = st->caps->props.limits;
  if (bindingCount > lim.maxPerStageDescriptorStorageBuffers)
    ThrowRange(env, "desc.bindingCount " + std::to_string(bindingCount) + " exceeds maxPerStageDescriptorStorageBuffers " +
                        std::to_string(lim.maxPerStageDescriptorStorageBuffers));
  uint32_t subgroup = 0;
  Napi::Value rs = desc.Get("requiredSubgroupSize");
  if (!rs.IsUndefined() && !rs.IsNull()) subgroup = ArgU32(env, rs, "desc.requiredSubgroupSize");
  const DeviceCaps& c = *st->caps;
  if (subgroup) {
    if (!c.hasSSC || !c.fssc.subgroupSizeControl || !(c.ssc.requiredSubgroupSizeStages & VK_SHADER_STAGE_COMPUTE_BIT))
      ThrowError(env, "createPipeline: requiredSubgroupSize needs VK_EXT_subgroup_size_control for compute");
    if (subgroup < c.ssc.minSubgroupSize || subgroup > c.ssc.maxSubgroupSize || (subgroup & (subgroup - 1)))
      ThrowRange(env, "desc.requiredSubgroupSize " + std::to_string(subgroup) + " not a power of two in [" +
                          std::to_string(c.ssc.minSubgroupSize) + ", " + std::to_string(c.ssc.maxSubgroupSize) + "]");
  }
  ValidateSpirv(env, words, entry, bindingCount);

  Napi::Object obj = Addon(env).pipeline.New({});
  auto res = std::make_shared<PipelineRes>(st);  // frees partial state if a step below throws
  res->pushBytes = pushBytes;
  res->bindingCount = bindingCount;
  res->usePush = st->pushDescriptors && bindingCount <= st->maxPushDescriptors;
  VkDevice d = st->device;

  std::vector<VkDescriptorSetLayoutBinding> binds(bindingCount);
  for (uint32_t i = 0; i < bindingCount; i++)
    binds[i] = {i, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT, nullptr};
  VkDescriptorSetLayoutCreateInfo dli{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
  dli.flags = res->usePush ? VK_DESCRIPTOR_SET_LAYOUT_CREATE_PUSH_DESCRIPTOR_BIT_KHR : 0;
  dli.bindingCount = bindingCount;
  dli.pBindings = binds.data();
  Check(env, vkCreateDescriptorSetLayout(d, &dli, nullptr, &res->setLayout), "vkCreateDescriptorSetLayout");
  VkPushConstantRange pcr{VK_SHADER_STAGE_COMPUTE_BIT, 0, pushBytes};
  VkPipelineLayoutCreateInfo pli{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
  pli.setLayoutCount = 1;
  pli.pSetLayouts = &res->setLayout;
  pli.pushConstantRangeCount = pushBytes ? 1 : 0;
  pli.pPushConstantRanges = &pcr;
  Check(env, vkCreatePipelineLayout(d, &pli, nullptr, &res->layout), "vkCreatePipelineLayout");

  VkShaderModuleCreateInfo smi{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
  smi.codeSize = spv.size;
  smi.pCode = words.data();
  VkShaderModule module = VK_NULL_HANDLE;
  Check(env, vkCreateShaderModule(d, &smi, nullptr, &module), "vkCreateShaderModule");
  VkSpecializationInfo spi{static_cast<uint32_t>(entries.size()), entries.data(), specData.size() * 4, specData.data()};
  VkPipelineShaderStageRequiredSubgroupSizeCreateInfo rss{
      VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_REQUIRED_SUBGROUP_SIZE_CREATE_INFO};
  rss.requiredSubgroupSize = subgroup;
  VkComputePipelineCreateInfo cpi{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
  cpi.stage = {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO};
  cpi.stage.pNext = subgroup ? &rss : nullptr;
  cpi.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  cpi.stage.module = module;
  cpi.stage.pName = entry.c_str();
  cpi.stage.pSpecializationInfo = entries.empty() ? nullptr : &spi;
  cpi.layout = res->layout;
  VkResult r = vkCreateComputePipelines(d, st->pipelineCache, 1, &cpi, nullptr, &res->pipeline);
  vkDestroyShaderModule(d, module, nullptr);
  if (r != VK_SUCCESS) {
    res->pipeline = VK_NULL_HANDLE;
    ThrowVk(env, "vkCreateComputePipelines", r);
  }
  PipelineWrap::Unwrap(obj)->res = res;
  return obj;
}

// ---------------------------------------------------------------- pipeline cache

// Initial data is used only when its header matches this device (size, version, vendor, device, UUID).
void LoadPipelineCache(Napi::Env env, DeviceState& st) {
  std::vector<uint8_t> data;
  if (!st.cachePath.empty()) {
    if (FILE* f = fopen(st.cachePath.c_str(), "rb")) {
      uint8_t buf[65536];
      size_t n;
      while ((n = fread(buf, 1, sizeof buf, f)) > 0) data.insert(data.end(), buf, buf + n);
      fclose(f);
    }
  }
  const VkPhysicalDeviceProperties& p = st.caps->props;
  bool valid = false;
  if (data.size() >= 32) {
    uint32_t h[4];
    std::memcpy(h, data.data(), 16);
    valid = h[0] >= 32 && h[0] <= data.size() && h[1] == VK_PIPELINE_CACHE_HEADER_VERSION_ONE &&
            h[2] == p.vendorID && h[3] == p.deviceID &&
            std::memcmp(data.data() + 16, p.pipelineCacheUUID, VK_UUID_SIZE) == 0;
  }
  VkPipelineCacheCreateInfo ci{VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
  if (valid) {
    ci.initialDataSize = data.size();
    ci.pInitialData = data.data();
    if (vkCreatePipelineCache(st.device, &ci, nullptr, &st.pipelineCache) == VK_SUCCESS) {
      st.cacheLoaded = true;
      return;
    }
    st.pipelineCache = VK_NULL_HANDLE;
    ci.initialDataSize = 0;
    ci.pInitialData = nullptr;
  }
  Check(env, vkCreatePipelineCache(st.device, &ci, nullptr, &st.pipelineCache), "vkCreatePipelineCache");
}

void SavePipelineCache(Napi::Env env, DeviceState& st) {
  if (st.cachePath.empty() || !st.pipelineCache) return;
  size_t size = 0;
  Check(env, vkGetPipelineCacheData(st.device, st.pipelineCache, &size, nullptr), "vkGetPipelineCacheData");
  std::vector<uint8_t> data(size);
  VkResult r = vkGetPipelineCacheData(st.device, st.pipelineCache, &size, data.data());
  if (r != VK_SUCCESS && r != VK_INCOMPLETE) ThrowVk(env, "vkGetPipelineCacheData", r);
  data.resize(size);
  std::string tmp = st.cachePath + ".tmp." + std::to_string(getpid());
  FILE* f = fopen(tmp.c_str(), "wb");
  if (!f) ThrowError(env, "savePipelineCache: cannot create " + tmp + ": " + strerror(errno));
  bool ok = fwrite(data.data(), 1, data.size(), f) == data.size() && fflush(f) == 0 && fsync(fileno(f)) == 0;
  int err = errno;
  ok = (fclose(f) == 0) && ok;
  if (!ok || rename(tmp.c_str(), st.cachePath.c_str()) != 0) {
    if (ok) err = errno;
    unlink(tmp.c_str());
    ThrowError(env, "savePipelineCache: cannot write " + st.cachePath + ": " + strerror(err));
  }
}

}  // namespace kpack
