{
  "targets": [
    {
      "target_name": "swiftlet_cpu",
      "sources": [
        "native/common/js_step.cc",
        "native/common/js_tensor.cc",
        "native/common/late_token_bitmask.cc",
        "native/common/layout.cc",
        "native/common/model_shape.cc",
        "native/common/native_tensor.cc",
        "native/common/slot_shape.cc",
        "native/common/step_contract.cc",
        "native/cpu/addon.cc",
        "native/cpu/formats/dense.cc",
        "native/cpu/formats/grouped_int.cc",
        "native/cpu/formats/int8.cc",
        "native/cpu/formats/int4.cc",
        "native/cpu/formats/int_dot.cc",
        "native/cpu/formats/int_dot_avx2.cc",
        "native/cpu/formats/int_dot_vnni.cc",
        "native/cpu/formats/q8_activations.cc",
        "native/cpu/formats/rtn_int.cc",
        "native/cpu/gemm.cc",
        "native/cpu/input_grams.cc",
        "native/cpu/linear.cc",
        "native/cpu/model.cc",
        "native/cpu/sampling.cc",
        "native/cpu/sampling_filters.cc",
        "native/cpu/tcp_group.cc",
        "native/cpu/tensor.cc",
        "native/cpu/thread_pool.cc",
        "native/cpu/token_bitmask.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native/common"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions", "-O2", "-O0"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-O2", "-O0", "-std=gnu++20", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-O3", "-march=native", "-fexceptions", "-pthread", "-Wno-maybe-uninitialized"],
      "ldflags": ["-pthread"]
    }
  ]
}
