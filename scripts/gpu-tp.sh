#!/bin/bash
# Tensor parallelism on a machine with 2 or more GPUs, in one run; fails loudly on any mismatch.
#  1. the CUDA correctness checks (scripts/gpu-check.sh) with the fixture model split over TP GPUs
#     (default 2), plus the split runner against the one-GPU runner;
#  2. the Qwen2.5-7B-shaped benchmark (bench/gpu-bench.ts) at TP=1 and at TP=TP, same weights'
#     shape and workload, printing both and the ratio.
# NVLink multicast stays off (NCCL_NVLS_ENABLE=0), as the shared GPU hosts require.
set -euo pipefail
cd "$(dirname "$0")/.."
export NCCL_NVLS_ENABLE=0
tp="${TP:-2}"
out="${OUT:-$(mktemp -d)}"
batch="${BATCH:-128}"
nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader || true
nvidia-smi topo -m || true
SWIFTLET_CUDA_TP="$tp" bash scripts/gpu-check.sh
timeout 300 node dist/bench/gpu-bench.js --batch "$batch" --tp 1 --json "$out/tp1.json"
timeout 300 node dist/bench/gpu-bench.js --batch "$batch" --tp "$tp" --json "$out/tp$tp.json"
python3 - "$out/tp1.json" "$out/tp$tp.json" <<'PY'
import json, sys
one, many = (json.load(open(f)) for f in sys.argv[1:3])
n = many["tensorParallelSize"]
print(f"| workload | TP=1 | TP={n} | ratio |")
print(f"| --- | --- | --- | --- |")
a, b = one["batch1"]["decodeMsPerToken"], many["batch1"]["decodeMsPerToken"]
print(f"| batch 1 decode ms/token | {a:.2f} | {b:.2f} | {a / b:.2f}x |")
a, b = one["batch1"]["ttftMs"], many["batch1"]["ttftMs"]
print(f"| batch 1 TTFT ms (512-token prompt) | {a:.1f} | {b:.1f} | {a / b:.2f}x |")
a, b = one["batchN"]["outputTokensPerSecond"], many["batchN"]["outputTokensPerSecond"]
print(f"| {one['batchN']['requests']} requests output tok/s | {a:.0f} | {b:.0f} | {b / a:.2f}x |")
PY
