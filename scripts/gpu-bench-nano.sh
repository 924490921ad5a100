#!/bin/bash
# nano-vllm's workload (../shared/BENCHMARKS.md, GPU item 2) on the GPU, swiftlet and its peer in
# one run: 256 requests of 100-1024 random prompt tokens and 100-1024 new tokens (133,966 in all),
# temperature 0.6, EOS ignored, Qwen3-0.6B shape with random weights. swiftlet through
# `swiftlet bench --requests` (all requests at once, continuous batching), then transformers
# generate() in batches of 64 (scripts/gpu-peer-nano.py); prints both and the ratio.
# SWIFTLET_CLI overrides how the CLI is started (e.g. `node bundle.mjs` where node_modules is absent).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f native/cuda/build/kernels.fatbin ] && [ -f native/cuda/build/swiftlet_cuda.node ] || make -C native/cuda
[ -f dist/src/cli/main.js ] || npx tsc -p .
out="${OUT:-$(mktemp -d)}"
python3 scripts/nano-vllm-requests.py "$out/nano-requests.json"
${SWIFTLET_CLI:-node dist/src/cli/main.js} bench --device cuda --shape qwen3-0.6b --requests "$out/nano-requests.json" \
  --temperature 0.6 --max-num-seqs 256 --max-num-batched-tokens 16384 --max-model-len 4096 | tee "$out/swiftlet-nano.json"
python3 scripts/gpu-peer-nano.py "$out/nano-requests.json" --json "$out/peer-nano.json"
python3 - "$out/swiftlet-nano.json" "$out/peer-nano.json" <<'PY'
import json, sys
s = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
p = json.load(open(sys.argv[2]))
print(f"| nano-vllm workload | swiftlet {s['outputTokensPerSecond']:.0f} tok/s ({s['seconds']:.1f} s) | transformers {p['outputTokensPerSecond']:.0f} tok/s ({p['seconds']:.1f} s) | {s['outputTokensPerSecond'] / p['outputTokensPerSecond']:.2f}x |")
PY
