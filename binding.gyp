{
  "targets": [
    {
      "target_name": "int8rt_avx2",
      "type": "static_library",
      "sources": ["<!@(node scripts/native-sources.js avx2 <(target_arch))"],
      "include_dirs": ["native"],
      "cflags_cc": ["-std=c++17", "-O3", "-fPIC"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "conditions": [["target_arch == 'x64'", { "cflags_cc": ["-mavx2", "-mfma", "-mf16c"] }]]
    },
    {
      "target_name": "int8rt_avxvnni",
      "type": "static_library",
      "sources": ["<!@(node scripts/native-sources.js avxvnni <(target_arch))"],
      "include_dirs": ["native"],
      "cflags_cc": ["-std=c++17", "-O3", "-fPIC"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "conditions": [["target_arch == 'x64'", { "cflags_cc": ["-mavx2", "-mfma", "-mf16c", "-mavxvnni"] }]]
    },
    {
      "target_name": "int8rt_avx512vnni",
      "type": "static_library",
      "sources": ["<!@(node scripts/native-sources.js avx512vnni <(target_arch))"],
      "include_dirs": ["native"],
      "cflags_cc": ["-std=c++17", "-O3", "-fPIC"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "conditions": [["target_arch == 'x64'", {
        "cflags_cc": ["-mavx2", "-mfma", "-mf16c", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512vnni"]
      }]]
    },
    {
      "target_name": "int8rt_neondot",
      "type": "static_library",
      "sources": ["<!@(node scripts/native-sources.js neondot <(target_arch))"],
      "include_dirs": ["native"],
      "cflags_cc": ["-std=c++17", "-O3", "-fPIC"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "conditions": [["target_arch == 'arm64'", { "cflags_cc": ["-march=armv8.2-a+dotprod", "-ffp-contract=off"] }]]
    },
    {
      "target_name": "int8rt_i8mm",
      "type": "static_library",
      "sources": ["<!@(node scripts/native-sources.js i8mm <(target_arch))"],
      "include_dirs": ["native"],
      "cflags_cc": ["-std=c++17", "-O3", "-fPIC"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "conditions": [["target_arch == 'arm64'", { "cflags_cc": ["-march=armv8.2-a+dotprod+i8mm", "-ffp-contract=off"] }]]
    },
    {
      "target_name": "int8rt",
      "sources": ["<!@(node scripts/native-sources.js core)", "<!@(node scripts/native-sources.js addon)"],
      # build/cuda holds the CUDA kernel image that native/cuda/fatbin_data.S embeds (.incbin): made by the action
      # below with nvcc, or a one-line note saying why there are no kernels (scripts/build-cuda.js).
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native", "<(module_root_dir)/build/cuda"],
      "actions": [
        {
          "action_name": "cuda_kernels",
          "inputs": ["scripts/build-cuda.js", "<!@(node scripts/native-sources.js cuda)"],
          "outputs": ["<(module_root_dir)/build/cuda/int8rt_kernels.fatbin"],
          "action": ["node", "<(module_root_dir)/scripts/build-cuda.js", "<(module_root_dir)/build/cuda"],
          "message": "CUDA kernels (scripts/build-cuda.js)"
        }
      ],
      "dependencies": ["int8rt_avx2", "int8rt_avxvnni", "int8rt_avx512vnni", "int8rt_neondot", "int8rt_i8mm"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED", "NAPI_CPP_EXCEPTIONS", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions", "-fvisibility=hidden"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "ldflags": ["-Wl,--exclude-libs,ALL"],
      "libraries": ["-ldl", "-lpthread"],
      "conditions": [
        # aarch64 compilers fuse a * b + c into fmadd by default (x86-64's baseline has no FMA to fuse into): off, so
        # the portable code rounds as on x64 and the int8 path gives the same bytes on both (kernels/arm/*.h).
        ["target_arch == 'arm64'", { "cflags_cc": ["-ffp-contract=off"] }]
      ]
    }
  ]
}
