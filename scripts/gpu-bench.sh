#!/bin/bash
# The GPU benchmark and its peer in one run on the same GPU: bench/gpu-bench.ts (swiftlet's CUDA
# runner through LLMEngine), then scripts/gpu-peer.py (transformers generate()), same shape
# (Qwen2.5-7B, bf16, random weights), prompt 512, 256 new tokens, batch 1 and 128; prints ratios
# and each figure's fraction of its hardware floor (GEMM peak and copy bandwidth measured in the call).
set -euo pipefail
source "$(dirname "$0")/gpu-bench-prepare.sh"
out="${OUT:-$(mktemp -d)}"
batch="${BATCH:-128}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
node dist/bench/gpu-bench.js --batch "$batch" --json "$out/swiftlet.json"
python3 scripts/gpu-peer.py --batch "$batch" --json "$out/peer.json"
python3 - "$out/swiftlet.json" "$out/peer.json" <<'PY'
import json, sys
s, p = (json.load(open(f)) for f in sys.argv[1:3])
print(f"| workload | swiftlet | transformers | ratio |")
print(f"| --- | --- | --- | --- |")
print(f"| batch 1 decode tok/s | {s['batch1']['decodeTokensPerSecond']:.1f} | {p['batch1']['decodeTokensPerSecond']:.1f} | {s['batch1']['decodeTokensPerSecond'] / p['batch1']['decodeTokensPerSecond']:.2f}x |")
print(f"| batch 1 ms/token (roofline {s['rooflineMsPerToken']:.2f}) | {s['batch1']['decodeMsPerToken']:.2f} ({100 * s['batch1']['fractionOfRoofline']:.0f}% of roofline) | {p['batch1']['decodeMsPerToken']:.2f} | |")
print(f"| {s['batchN']['requests']} requests output tok/s | {s['batchN']['outputTokensPerSecond']:.0f} | {p['batchN']['outputTokensPerSecond']:.0f} | {s['batchN']['outputTokensPerSecond'] / p['batchN']['outputTokensPerSecond']:.2f}x |")
print(f"| {s['batchN']['requests']} requests seconds (floor {s['batchN']['floorSeconds']:.2f}) | {s['batchN']['seconds']:.2f} ({100 * s['batchN']['fractionOfFloor']:.0f}% of floor) | {p['batchN']['seconds']:.2f} | |")
print(f"floors from the same call: copy {s['copyBandwidthTBs']:.2f} TB/s, bf16 GEMM {s['gemmPeakTflops']:.0f} TFLOP/s")
PY
