#!/usr/bin/env python3
"""The peer for bench/gpu-bench.ts: transformers generate() on the same shape and lengths.

Qwen2.5-7B shape (hidden 3584, 28 layers, 28 heads, 4 KV heads, intermediate 18944, vocab
152064, untied), bf16, random weights made on the GPU. Prompt 512 random tokens, 256 new
tokens, greedy, EOS ignored (min_new_tokens). Batch 1 (decode speed: 256 new tokens minus a
1-token run gives the decode time) and N requests at once (output tokens/s).
Usage: gpu-peer.py [--batch 128] [--prompt 512] [--gen 256] [--json out.json]
"""
import argparse
import json
import time

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--prompt", type=int, default=512)
    ap.add_argument("--gen", type=int, default=256)
    ap.add_argument("--json", default="")
    args = ap.parse_args()

    config = Qwen2Config(hidden_size=3584, num_hidden_layers=28, num_attention_heads=28, num_key_value_heads=4,
                         intermediate_size=18944, vocab_size=152064, max_position_embeddings=32768,
                         rms_norm_eps=1e-6, rope_theta=1000000.0, tie_word_embeddings=False,
                         bos_token_id=151643, eos_token_id=151645)
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = Qwen2ForCausalLM._from_config(config, dtype=torch.bfloat16).eval()
    gen = torch.Generator(device="cuda").manual_seed(0)

    def prompts(n: int) -> torch.Tensor:
        return torch.randint(0, 150000, (n, args.prompt), device="cuda", generator=gen)

    def timed(ids: torch.Tensor, new: int) -> float:
        torch.cuda.synchronize()
        t = time.perf_counter()
        with torch.no_grad():
            out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=new,
                                 min_new_tokens=new, pad_token_id=0)
        torch.cuda.synchronize()
        assert out.shape[1] == ids.shape[1] + new
        return time.perf_counter() - t

    timed(prompts(1), 8)  # warm-up
    one = prompts(1)
    t1 = timed(one, 1)
    tn = timed(one, args.gen)
    decode_ms = (tn - t1) / (args.gen - 1) * 1e3
    timed(prompts(args.batch), 2)  # warm-up at the batch size
    tb = timed(prompts(args.batch), args.gen)
    result = {
        "peer": "transformers " + __import__("transformers").__version__ + " generate(), torch " + torch.__version__,
        "device": torch.cuda.get_device_name(0),
        "batch1": {"decodeMsPerToken": decode_ms, "decodeTokensPerSecond": 1e3 / decode_ms, "totalSeconds": tn},
        "batchN": {"requests": args.batch, "seconds": tb, "outputTokensPerSecond": args.batch * args.gen / tb},
    }
    print(f"peer batch 1: decode {decode_ms:.2f} ms/token = {1e3 / decode_ms:.1f} tok/s ({tn:.1f} s for {args.gen})")
    print(f"peer batch {args.batch}: {args.batch * args.gen} tokens in {tb:.1f} s = {args.batch * args.gen / tb:.0f} tok/s")
    if args.json:
        json.dump(result, open(args.json, "w"), indent=2)


if __name__ == "__main__":
    main()
