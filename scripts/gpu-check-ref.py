#!/usr/bin/env python3
"""bf16 references for the CUDA runner, computed with transformers on the GPU.

Usage: gpu-check-ref.py MODEL_DIR FIXTURE_REF_JSON OUT_JSON [ADAPTER_DIR]

Same layout as test/fixtures/tiny-qwen2.ref.json (see test/fixtures/README.md) for the
`logprobs`, `chat` and `raw` blocks, computed on CUDA:
- `logprobs`: teacher-forced, the model in bfloat16 (the CUDA runner's precision) but the
  lm_head product in fp32 on the bf16 final hidden state, as the runner does: bf16 logits
  alone are quantised to 1/16..1/8 at this model's logit sizes, which would swamp the check.
- `logprobs_fp32`: the same checkpoint upcast to fp32 (exact for bf16 weights): the answer a
  bf16 engine should approach.
- `chat`, `raw`: greedy generations in bf16 of the fixture's lengths, with the top-1 minus
  top-2 logit margin of every step; EOS does not stop them (min_new_tokens).
- `lora` (with ADAPTER_DIR, a PEFT LoRA adapter): the same four blocks with the adapter applied
  by peft (`PeftModel.from_pretrained`: adapter weights in fp32, the delta added to the bf16
  projection output), for the fixture's `lora.a` sequences and prompts.
"""
import json
import sys

import torch
from transformers import AutoModelForCausalLM


def main() -> None:
    model_dir, fixture_path, out_path = sys.argv[1:4]
    adapter_dir = sys.argv[4] if len(sys.argv) > 4 else None
    fixture = json.load(open(fixture_path))
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16).cuda().eval()

    def top5(lp: torch.Tensor) -> list:
        values, ids = lp.topk(5)
        return [[int(i), float(v)] for i, v in zip(ids.tolist(), values.tolist())]

    model32 = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).cuda().eval()
    head = model.get_output_embeddings().weight.float()

    def teacher_forced(logits_of, entries=fixture["logprobs"]) -> list:
        out = []
        for entry in entries:
            ids = entry["ids"]
            lp = torch.log_softmax(logits_of(torch.tensor([ids], device="cuda")), dim=-1)
            positions = [{"logprob": float(lp[i, ids[i + 1]]), "top": top5(lp[i])} for i in range(len(ids) - 1)]
            out.append({"ids": ids, "positions": positions, "next_top": top5(lp[len(ids) - 1])})
        return out

    with torch.no_grad():
        logprobs = teacher_forced(lambda ids: model.model(ids).last_hidden_state[0].float() @ head.T)
        logprobs_fp32 = teacher_forced(lambda ids: model32(ids).logits[0].float())

        def generate(block: list, model=model) -> list:
            out = []
            for entry in block:
                prompt = entry["prompt_ids"]
                n = len(entry["output_ids"])
                result = model.generate(
                    torch.tensor([prompt], device="cuda"),
                    attention_mask=torch.ones(1, len(prompt), dtype=torch.long, device="cuda"),
                    do_sample=False, max_new_tokens=n, min_new_tokens=n, output_scores=True,
                    return_dict_in_generate=True, pad_token_id=0,
                )
                ids = result.sequences[0, len(prompt):].tolist()
                margins = []
                for scores in result.scores:
                    top = scores[0].float().topk(2).values.tolist()
                    margins.append(top[0] - top[1])
                out.append({"prompt_ids": prompt, "output_ids": ids, "margins": margins})
            return out

        chat = generate(fixture["chat"])
        raw = generate(fixture["raw"])

        lora = None
        if adapter_dir:
            from peft import PeftModel

            block = fixture["lora"]["a"]
            # NOTE: from_pretrained injects the LoRA layers into the base modules in place; the base
            # references above are already taken.
            peft16 = PeftModel.from_pretrained(model, adapter_dir).eval()
            peft32 = PeftModel.from_pretrained(model32, adapter_dir).eval()
            inner16 = peft16.get_base_model()
            lora = {
                "adapter": adapter_dir,
                "adapter_dtype": str(next(p for n, p in peft16.named_parameters() if "lora_A" in n).dtype),
                "logprobs": teacher_forced(lambda ids: inner16.model(ids).last_hidden_state[0].float() @ head.T, block["logprobs"]),
                "logprobs_fp32": teacher_forced(lambda ids: peft32(ids).logits[0].float(), block["logprobs"]),
                "chat": generate(block["chat"], peft16),
                "raw": generate(block["raw"], peft16),
            }
            base_of = {tuple(e["ids"]): e for e in logprobs}
            diffs = [abs(a["logprob"] - b["logprob"]) for e in lora["logprobs"] if tuple(e["ids"]) in base_of
                     for a, b in zip(e["positions"], base_of[tuple(e["ids"])]["positions"])]
            moved = max(diffs, default=float("nan"))
            print(f"peft reference ({lora['adapter_dtype']} adapter): {len(lora['logprobs'])} teacher-forced sequences, "
                  f"{len(lora['chat']) + len(lora['raw'])} generations; the adapter moves logprobs by up to {moved:.2f}")

    result = {"model": model_dir, "dtype": "bfloat16", "device": torch.cuda.get_device_name(0),
              "logprobs": logprobs, "logprobs_fp32": logprobs_fp32, "chat": chat, "raw": raw}
    if lora:
        result["lora"] = lora
    json.dump(result, open(out_path, "w"))
    print(f"bf16 reference: {len(logprobs)} teacher-forced sequences, {len(chat) + len(raw)} generations -> {out_path}")


if __name__ == "__main__":
    main()
