/**
 * What the CPU runner computes the logits with (`--lm-head-dtype`): the lm_head as the checkpoint
 * stores it ('auto', usually bf16: logprobs as transformers computes them), or quantized once at
 * load to int8 / int4 codes, symmetric, a scale per 32 inputs (llama.cpp's q8_0 / q4_0 blocks,
 * so a comparison with a GGUF whose token_embd is quantized holds the same kind of weights).
 * A tied embedding's lookup keeps the stored rows either way.
 */
export const LM_HEAD_DTYPES = ['auto', 'int8', 'int4'] as const;
export type LmHeadDtype = (typeof LM_HEAD_DTYPES)[number];

export function isLmHeadDtype(value: string): value is LmHeadDtype {
  return (LM_HEAD_DTYPES as readonly string[]).includes(value);
}

/** The native CPU model's lmHeadBits: 0 keeps the stored dtype. Checks the value (a JS caller may pass any string). */
export function lmHeadBits(dtype: LmHeadDtype): 0 | 8 | 4 {
  if (!isLmHeadDtype(dtype)) throw new Error(`lmHeadDtype must be one of ${LM_HEAD_DTYPES.join(', ')}, got "${String(dtype)}"`);
  return dtype === 'int8' ? 8 : dtype === 'int4' ? 4 : 0;
}
