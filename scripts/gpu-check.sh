#!/bin/bash
# Correctness of the CUDA runner on the GPU machine; fails loudly on any mismatch.
#  1. builds the CUDA part if it is missing (make -C native/cuda; needs nvcc) and the TypeScript
#     if dist/ is missing (needs npm);
#  2. computes bf16 references for test/fixtures/tiny-qwen2 with transformers on the GPU, and with
#     peft for the adapter test/fixtures/tiny-qwen2-lora-a;
#  3. runs test/cuda.test.ts against them with SWIFTLET_REQUIRE_CUDA=1 (no silent skip);
#     SWIFTLET_CUDA_TP=N runs it on the model split over N GPUs;
#  4. runs test/cuda-attention.test.ts (prefill and tensor-core decode attention against the SIMT
#     decode at head_dim 64 and 128, on random models);
#  5. runs test/cuda-families.test.ts (Qwen v1 and ChatGLM3 on random tiny shapes against the CPU
#     runner: log-n scaling, interleaved half-head rotary, fused LoRA) and
#     test/cuda-structured.test.ts (the grammar token bitmask, eager and graph steps);
#  6. runs test/cuda-quant.test.ts (int4 and int8 weights against the CPU runner: the GEMV,
#     dequantize + cuBLASLt and graph decode paths, group sizes 32 and 128, sym and asym, act-order);
#  7. runs test/cuda-speculative.test.ts (greedy prompt-lookup speculation equals plain decoding
#     token for token at batch 1).
# Tolerances (bf16): logprobs within 5e-2 absolute; greedy tokens identical up to the first step
# whose reference top-1/top-2 logit margin is under 0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f native/cuda/build/kernels.fatbin ] && [ -f native/cuda/build/swiftlet_cuda.node ] || make -C native/cuda
[ -f dist/test/cuda.test.js ] || npx tsc -p .
out="${OUT:-$(mktemp -d)}"
# SWIFTLET_CUDA_REF naming an existing file (an earlier run's reference) skips recomputing it.
ref="${SWIFTLET_CUDA_REF:-$out/tiny-qwen2.bf16-ref.json}"
[ -f "$ref" ] || python3 scripts/gpu-check-ref.py test/fixtures/tiny-qwen2 test/fixtures/tiny-qwen2.ref.json "$ref" test/fixtures/tiny-qwen2-lora-a
# A hung GPU call must fail the run, not stall it.
SWIFTLET_CUDA_REF="$ref" SWIFTLET_REQUIRE_CUDA=1 timeout "${CHECK_TIMEOUT:-600}" node --test --test-reporter=spec dist/test/cuda.test.js dist/test/cuda-attention.test.js dist/test/cuda-families.test.js dist/test/cuda-structured.test.js dist/test/cuda-quant.test.js dist/test/cuda-speculative.test.js
echo "gpu-check: all CUDA correctness checks passed"
