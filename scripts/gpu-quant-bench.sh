#!/bin/bash
# bf16, int8 and int4 weights side by side on one GPU in one run: bench/gpu-bench.ts on the
# Qwen2.5-7B shape (random weights made on the GPU; int formats in groups of GROUP_SIZE, default
# 128, the lm_head bf16), prompt 512, 256 new tokens, batch 1 and BATCH (default 128) requests.
# Prints batch-1 decode ms/token and the BATCH-request output tokens/s of each format, with the
# int formats' ratios to bf16 (the issue's targets: int4 batch-1 >= 2.8x, BATCH requests >= 1.0x),
# then each layer's linear alone at 1 and 4 rows in each format, µs and TB/s (bench/gpu-linear-bandwidth.ts).
set -euo pipefail
source "$(dirname "$0")/gpu-bench-prepare.sh"
out="${OUT:-$(mktemp -d)}"
batch="${BATCH:-128}"
group="${GROUP_SIZE:-128}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
for format in bf16 int8 int4; do
  node dist/bench/gpu-bench.js --batch "$batch" --weight-format "$format" --group-size "$group" --json "$out/quant-$format.json" | tee "$out/quant-$format.log"
done
python3 - "$out" <<'PY'
import json, sys
runs = {f: json.load(open(f"{sys.argv[1]}/quant-{f}.json")) for f in ("bf16", "int8", "int4")}
base = runs["bf16"]
print(f"| weights | batch 1 ms/token (roofline) | vs bf16 | {base['batchN']['requests']} requests tok/s | vs bf16 |")
print("| --- | --- | --- | --- | --- |")
for name, r in runs.items():
    ms, tps = r["batch1"]["decodeMsPerToken"], r["batchN"]["outputTokensPerSecond"]
    label = name if name == "bf16" else f"{name} (group {r['groupSize']})"
    print(f"| {label} | {ms:.2f} ({r['rooflineMsPerToken']:.2f}) | {base['batch1']['decodeMsPerToken'] / ms:.2f}x | {tps:.0f} | {tps / base['batchN']['outputTokensPerSecond']:.2f}x |")
print(f"{base['device']}, {base['shape']}, prompt {base['promptLen']}, {base['genLen']} new tokens; copy bandwidth {base['copyBandwidthTBs']:.2f} TB/s")
PY
node dist/bench/gpu-linear-bandwidth.js --rows 1,4 --group-size "$group" | tee "$out/linear-bandwidth.log"
