{
  "targets": [
    {
      "target_name": "kpack_vulkan",
      "sources": [
        "native/vulkan/errors.cc",
        "native/vulkan/instance.cc",
        "native/vulkan/device.cc",
        "native/vulkan/buffer.cc",
        "native/vulkan/pipeline.cc",
        "native/vulkan/sequence.cc",
        "native/vulkan/context.cc",
        "native/vulkan/module.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_CPP_EXCEPTIONS_ALL", "NAPI_VERSION=8"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++14", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wno-missing-field-initializers"],
      "libraries": ["-lvulkan"],
      "conditions": [
        ["OS=='mac'", {
          "xcode_settings": {
            "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
            "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
            "MACOSX_DEPLOYMENT_TARGET": "11.0"
          }
        }],
        ["OS=='win'", {
          "libraries!": ["-lvulkan"],
          "libraries": ["<!(node -p \"process.env.VULKAN_SDK + '/Lib/vulkan-1.lib'\")"],
          "include_dirs": ["<!(node -p \"process.env.VULKAN_SDK + '/Include'\")"],
          "msvs_settings": { "VCCLCompilerTool": { "ExceptionHandling": 1, "AdditionalOptions": ["/std:c++17"] } }
        }]
      ]
    },
    {
      "target_name": "kpack_hip",
      "sources": [
        "native/hip/dl.cc",
        "native/hip/cuda_driver.cc",
        "native/hip/hip_driver.cc",
        "native/hip/errors.cc",
        "native/hip/compile.cc",
        "native/hip/resources.cc",
        "native/hip/context.cc",
        "native/hip/addon.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_CPP_EXCEPTIONS_ALL", "NAPI_VERSION=8"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++14", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wno-missing-field-initializers"],
      "libraries": ["-ldl"],
      "conditions": [
        ["OS!='linux'", { "type": "none", "sources": [] }]
      ]
    }
  ]
}
