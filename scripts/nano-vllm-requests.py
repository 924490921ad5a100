#!/usr/bin/env python3
"""The nano-vllm benchmark workload (../shared/BENCHMARKS.md, GPU item 2) as a request list.

256 requests, drawn exactly as nano-vllm's bench.py draws them: random.seed(0), then the prompts
[[randint(0, 10000) for _ in range(randint(100, 1024))] for _ in range(256)], then the output
lengths [randint(100, 1024) for _ in range(256)] (133,966 output tokens in all).
Writes [{"prompt_token_ids": [...], "max_tokens": N}, ...], the format of `swiftlet bench --requests`.
Usage: nano-vllm-requests.py OUT.json
"""
import json
import sys
from random import randint, seed


def main() -> None:
    seed(0)
    prompts = [[randint(0, 10000) for _ in range(randint(100, 1024))] for _ in range(256)]
    lengths = [randint(100, 1024) for _ in range(256)]
    assert sum(lengths) == 133966, sum(lengths)
    with open(sys.argv[1], "w") as f:
        json.dump([{"prompt_token_ids": p, "max_tokens": n} for p, n in zip(prompts, lengths)], f)


if __name__ == "__main__":
    main()
