#!/usr/bin/env python3
"""The peer for the nano-vllm workload: transformers generate() in batches of 64, as BENCHMARKS.md ran it.

Qwen3-0.6B shape (hidden 1024, 28 layers, 16 heads, 8 KV heads, head_dim 128, intermediate 3072,
vocab 151936, tied), bf16, random weights made on the GPU. Requests from scripts/nano-vllm-requests.py,
in order, 64 per generate() call (prompts left-padded), each call sampling (temperature 0.6, no
top-k / top-p) as many new tokens as its longest request asks for, EOS ignored. Output tokens
counted: what the requests asked for (the rest of a short request's row is the cost of batching
statically). Usage: gpu-peer-nano.py REQUESTS.json [--batch 64] [--json out.json]
"""
import argparse
import json
import time

import torch
from transformers import Qwen3Config, Qwen3ForCausalLM


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("requests")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    requests = json.load(open(args.requests))

    config = Qwen3Config(hidden_size=1024, num_hidden_layers=28, num_attention_heads=16, num_key_value_heads=8,
                         head_dim=128, intermediate_size=3072, vocab_size=151936, max_position_embeddings=40960,
                         rms_norm_eps=1e-6, rope_theta=1000000.0, tie_word_embeddings=True)
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = Qwen3ForCausalLM._from_config(config, dtype=torch.bfloat16).eval()

    def generate(batch: list, new: int) -> None:
        width = max(len(r["prompt_token_ids"]) for r in batch)
        ids = torch.zeros((len(batch), width), dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, r in enumerate(batch):
            p = r["prompt_token_ids"]
            ids[i, width - len(p):] = torch.tensor(p)
            mask[i, width - len(p):] = 1
        with torch.no_grad():
            out = model.generate(ids.cuda(), attention_mask=mask.cuda(), do_sample=True, temperature=0.6, top_k=0,
                                 top_p=1.0, max_new_tokens=new, min_new_tokens=new, pad_token_id=0)
        assert out.shape[1] == width + new

    generate(requests[:2], 4)  # warm-up
    torch.cuda.synchronize()
    start = time.perf_counter()
    for b in range(0, len(requests), args.batch):
        batch = requests[b:b + args.batch]
        generate(batch, max(r["max_tokens"] for r in batch))
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    tokens = sum(r["max_tokens"] for r in requests)
    print(f"peer: {tokens} output tokens in {seconds:.1f} s = {tokens / seconds:.0f} tok/s "
          f"(transformers {__import__('transformers').__version__} generate(), batches of {args.batch})")
    if args.json:
        json.dump({"seconds": seconds, "outputTokens": tokens, "outputTokensPerSecond": tokens / seconds}, open(args.json, "w"))


if __name__ == "__main__":
    main()
