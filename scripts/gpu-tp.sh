#!/bin/bash
# Tensor parallelism on a machine with 2 or more GPUs, in one run; fails loudly on any mismatch.
#  1. the CUDA correctness checks (scripts/gpu-check.sh) with the fixture model split over TP GPUs
#     (default 2), plus the split runner against the one-GPU runner;
#  2. the Qwen2.5-7B-shaped benchmark (bench/gpu-bench.ts) at TP=1 and at TP=TP, same weights'
#     shape and workload, printing both and the ratio;
#  3. the command line on the bundled demo model: `swiftlet run-batch` at TP=1 and TP=TP (every
#     request answered; the greedy texts compared), then `swiftlet deploy --tensor-parallel-size TP`
#     answering a chat completion, whole and streamed, and stopping cleanly on SIGTERM.
# SWIFTLET_CLI overrides how the CLI is started (e.g. `node bundle.mjs` where node_modules is absent).
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

cli="${SWIFTLET_CLI:-node dist/src/cli/main.js}"
cat > "$out/requests.jsonl" <<'JSONL'
{"custom_id": "capital", "method": "POST", "url": "/v1/chat/completions", "body": {"messages": [{"role": "user", "content": "浙江的省会在哪?"}], "max_tokens": 32, "temperature": 0}}
{"custom_id": "who", "method": "POST", "url": "/v1/chat/completions", "body": {"messages": [{"role": "user", "content": "who are you?"}], "max_tokens": 48, "temperature": 0}}
{"custom_id": "hello", "method": "POST", "url": "/v1/chat/completions", "body": {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 32, "temperature": 0}}
JSONL
$cli run-batch --device cuda --tensor-parallel-size 1 -i "$out/requests.jsonl" -o "$out/batch-tp1.jsonl"
$cli run-batch --device cuda --tensor-parallel-size "$tp" -i "$out/requests.jsonl" -o "$out/batch-tp$tp.jsonl"
python3 - "$out/batch-tp1.jsonl" "$out/batch-tp$tp.jsonl" <<'PY'
import json, sys
one, many = ([json.loads(l) for l in open(f)] for f in sys.argv[1:3])
same = 0
for a, b in zip(one, many):
    assert a["response"]["status_code"] == 200 and b["response"]["status_code"] == 200, (a, b)
    ta = a["response"]["body"]["choices"][0]["message"]["content"]
    tb = b["response"]["body"]["choices"][0]["message"]["content"]
    assert tb, b
    same += ta == tb
    print(f"run-batch {a['custom_id']}: TP=1 {ta!r} | split {tb!r}")
print(f"run-batch: {len(many)} answered split, {same} of {len(one)} texts identical to one GPU")
PY
port=18123
$cli deploy --device cuda --tensor-parallel-size "$tp" --port "$port" > "$out/deploy.log" 2>&1 &
server=$!
python3 - "$port" <<'PY'
import json, sys, time, urllib.request
base = f"http://127.0.0.1:{sys.argv[1]}"
for _ in range(120):
    try:
        urllib.request.urlopen(base + "/health", timeout=1)
        break
    except Exception:
        time.sleep(0.5)
model = json.loads(urllib.request.urlopen(base + "/v1/models", timeout=5).read())["data"][0]["id"]
body = {"model": model, "messages": [{"role": "user", "content": "who are you?"}], "max_tokens": 32, "temperature": 0}
def post(extra):
    req = urllib.request.Request(base + "/v1/chat/completions", data=json.dumps({**body, **extra}).encode(), headers={"content-type": "application/json"})
    return urllib.request.urlopen(req, timeout=60).read().decode()
whole = json.loads(post({}))["choices"][0]["message"]["content"]
chunks = [l[6:] for l in post({"stream": True}).splitlines() if l.startswith("data: ")]
assert chunks[-1] == "[DONE]", chunks[-3:]
streamed = "".join(json.loads(c)["choices"][0]["delta"].get("content") or "" for c in chunks[:-1] if json.loads(c)["choices"])
print(f"deploy: whole {whole!r}, streamed {streamed!r}")
assert whole and whole == streamed
PY
kill -TERM "$server"
wait "$server"
echo "deploy: stopped cleanly (exit 0); log:"
cat "$out/deploy.log"
echo "gpu-tp: all checks passed"
