#!/bin/bash
# Tensor parallelism on a machine with 2 or more GPUs, in one run; fails loudly on any mismatch.
#  1. the CUDA correctness checks (scripts/gpu-check.sh) with the fixture model split over TP GPUs
#     (default 2), plus the split runner against the one-GPU runner;
#  2. the Qwen2.5-7B-shaped benchmark (bench/gpu-bench.ts) at TP=1, 2, 4, ... up to TP, same
#     shape and workload, printing each and its ratio to TP=1;
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
sizes=1
for ((n = 2; n <= tp; n *= 2)); do sizes="$sizes $n"; done
[[ " $sizes " == *" $tp "* ]] || sizes="$sizes $tp"
for n in $sizes; do
  timeout 300 node dist/bench/gpu-bench.js --batch "$batch" --tp "$n" --json "$out/tp$n.json"
done
python3 - $(for n in $sizes; do echo "$out/tp$n.json"; done) <<'PY'
import json, sys
runs = [json.load(open(f)) for f in sys.argv[1:]]
one = runs[0]
print("| workload | " + " | ".join(f"TP={r['tensorParallelSize']}" for r in runs) + " |")
print("| --- |" + " --- |" * len(runs))
def row(label, get, fmt, faster_is_smaller):
    cells = []
    for r in runs:
        v, base = get(r), get(one)
        ratio = base / v if faster_is_smaller else v / base
        cells.append(f"{fmt.format(v)}" + ("" if r is one else f" ({ratio:.2f}x)"))
    print(f"| {label} | " + " | ".join(cells) + " |")
row("batch 1 decode ms/token", lambda r: r["batch1"]["decodeMsPerToken"], "{:.2f}", True)
row("batch 1 TTFT ms (512-token prompt)", lambda r: r["batch1"]["ttftMs"], "{:.1f}", True)
row(f"{one['batchN']['requests']} requests output tok/s", lambda r: r["batchN"]["outputTokensPerSecond"], "{:.0f}", False)
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
