{
  # One native build. The addon is compiled for baseline x86-64 (or the target
  # architecture); only the per-ISA kernel libraries get wider instruction-set
  # flags, and dispatch.cpp calls them only when the CPU has those instructions.
  # Never tune for the build host (no "native" -march): prebuilt binaries must run on any x86-64
  # (or AArch64) CPU.
  "variables": {
    "fa_common_cflags": ["-O3", "-fPIC", "-fno-math-errno", "-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter"],
    # MSVC / clang-cl (node-gyp's Windows build): C++17, C++ exceptions, /O2. The ISA
    # libraries add /arch:AVX2 or /arch:AVX512 (F, CD, BW, DQ, VL) below.
    "fa_msvc_cflags": ["/std:c++17", "/O2", "/EHsc", "/fp:precise"]
  },
  "target_defaults": {
    "msvs_settings": {"VCCLCompilerTool": {"ExceptionHandling": 1, "AdditionalOptions": ["<@(fa_msvc_cflags)"]}}
  },
  "targets": [
    {
      "target_name": "fused_attention",
      "sources": [
        "native/binding.cc",
        "native/binding_attention.cc",
        "native/binding_linear.cc",
        "native/binding_vision.cc",
        "native/napi_args.cc",
        "native/async_runtime.cc",
        "native/attention.cpp",
        "native/attention_plan.cpp",
        "native/criss_cross.cpp",
        "native/gemm.cpp",
        "native/dispatch.cpp",
        "native/cpu_features.cpp",
        "native/cpu_budget.cpp",
        "native/thread_pool.cpp",
        "native/job_queue.cpp",
        "native/kernel_scalar.cpp",
        "native/bf16_convert.cpp"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      # NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS: while a worker thread is being
      # terminated, N-API calls fail and the resulting exception cannot be thrown
      # into JS; without it node-addon-api rethrows in C++ and aborts the process.
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["<@(fa_common_cflags)", "-fexceptions"],
      "conditions": [
        ["OS!='win'", {"libraries": ["-pthread"]}],
        # The addon starts threads (kernel pool, async dispatcher) that outlive
        # the environment that loaded it: Node dlcloses an addon when the last
        # worker thread using it exits, and those threads would then run unmapped
        # code. -z nodelete keeps it mapped until the process exits.
        ["OS=='linux'", {"ldflags": ["-Wl,-z,nodelete"]}],
        ["target_arch=='x64'", {
          "defines": ["FA_X86_KERNELS"],
          "dependencies": ["fa_kernel_avx2", "fa_kernel_avx512", "fa_bf16_avx512bf16"]
        }],
        ["target_arch=='arm64'", {
          "defines": ["FA_ARM_KERNELS"],
          "dependencies": ["fa_kernel_neon"]
        }]
      ]
    }
  ],
  "conditions": [
    ["target_arch=='x64'", {
      "targets": [
        {
          "target_name": "fa_kernel_avx2",
          "type": "static_library",
          "sources": ["native/kernel_avx2.cpp"],
          "cflags_cc!": ["-std=gnu++17", "-std=gnu++20"],
          "cflags_cc": ["<@(fa_common_cflags)", "-mavx2", "-mfma", "-mno-avx256-split-unaligned-load", "-mno-avx256-split-unaligned-store"],
          "msvs_settings": {"VCCLCompilerTool": {"AdditionalOptions": ["/arch:AVX2"]}}
        },
        {
          "target_name": "fa_kernel_avx512",
          "type": "static_library",
          "sources": ["native/kernel_avx512.cpp"],
          "cflags_cc!": ["-std=gnu++17", "-std=gnu++20"],
          "cflags_cc": ["<@(fa_common_cflags)", "-mavx2", "-mfma", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-Wno-maybe-uninitialized", "-Wno-uninitialized"],
          "msvs_settings": {"VCCLCompilerTool": {"AdditionalOptions": ["/arch:AVX512"]}}
        },
        {
          # vcvtneps2bf16 for toBfloat16, used only when the CPU reports avx512bf16.
          "target_name": "fa_bf16_avx512bf16",
          "type": "static_library",
          "sources": ["native/bf16_convert_avx512bf16.cpp"],
          "cflags_cc!": ["-std=gnu++17", "-std=gnu++20"],
          "cflags_cc": ["<@(fa_common_cflags)", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512bf16", "-Wno-maybe-uninitialized", "-Wno-uninitialized"],
          "msvs_settings": {"VCCLCompilerTool": {"AdditionalOptions": ["/arch:AVX512"]}}
        }
      ]
    }],
    # Advanced SIMD is baseline on AArch64: the NEON kernel gets no extra flags
    # (its own library only so every ISA is built the same way).
    ["target_arch=='arm64'", {
      "targets": [
        {
          "target_name": "fa_kernel_neon",
          "type": "static_library",
          "sources": ["native/kernel_neon.cpp"],
          "cflags_cc!": ["-std=gnu++17", "-std=gnu++20"],
          "cflags_cc": ["<@(fa_common_cflags)"]
        }
      ]
    }]
  ]
}
