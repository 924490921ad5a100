/**
 * Hugging Face tensor names to the names llama.cpp's loader looks up, and the q/k row
 * order its `llama` architecture expects.
 */
import { ModelLoadError } from '../errors.js';
import type { ModelSpec } from '../spec.js';

const TOP_LEVEL: Record<string, string> = {
  'model.embed_tokens.weight': 'token_embd.weight',
  'model.norm.weight': 'output_norm.weight',
  'lm_head.weight': 'output.weight',
};

const IN_LAYER: Record<string, string> = {
  'input_layernorm': 'attn_norm',
  'post_attention_layernorm': 'ffn_norm',
  'self_attn.q_proj': 'attn_q',
  'self_attn.k_proj': 'attn_k',
  'self_attn.v_proj': 'attn_v',
  'self_attn.o_proj': 'attn_output',
  'self_attn.q_norm': 'attn_q_norm',
  'self_attn.k_norm': 'attn_k_norm',
  'mlp.gate_proj': 'ffn_gate',
  'mlp.up_proj': 'ffn_up',
  'mlp.down_proj': 'ffn_down',
};

/** llama.cpp's per-dimension rope divisors (llama3 scaling), a model-level tensor. */
export const ROPE_FREQS_TENSOR = 'rope_freqs.weight';

export function ggufTensorName(hfName: string): string {
  const top = TOP_LEVEL[hfName];
  if (top) return top;
  const match = /^model\.layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(hfName);
  const mapped = match ? IN_LAYER[match[2] ?? ''] : undefined;
  if (!match || !mapped) throw new ModelLoadError(`GGUF export: no llama.cpp name for tensor "${hfName}"`);
  return `blk.${match[1]}.${mapped}.${match[3]}`;
}

/**
 * How many heads to regroup the rows of `hfName` by, or 0 when its rows stay as they are.
 * NOTE: Hugging Face's Llama rotates channel i with i + headDim/2 (rotate_half); llama.cpp's
 * `llama` architecture rotates adjacent pairs (2i, 2i+1), so q and k rows (weights and
 * biases) are reordered per head. Its qwen2/qwen3 architectures use the Hugging Face order.
 */
export function ropePermuteHeads(spec: ModelSpec, hfName: string): number {
  if (spec.family !== 'llama') return 0;
  if (/\.self_attn\.q_proj\.(weight|bias)$/.test(hfName)) return spec.numHeads;
  if (/\.self_attn\.k_proj\.(weight|bias)$/.test(hfName)) return spec.numKvHeads;
  return 0;
}

/**
 * Rows of each head reordered from (half, index) to (index, half): new row 2j + t of a head is
 * old row t * headDim/2 + j. Works on any element type: a row is `bytes.length / numRows` bytes.
 */
export function permuteRopeRows(bytes: Uint8Array, numRows: number, numHeads: number): Uint8Array {
  if (numRows % (2 * numHeads) !== 0) throw new ModelLoadError(`cannot regroup ${numRows} rows into ${numHeads} rotary heads`);
  const rowBytes = bytes.byteLength / numRows;
  const headRows = numRows / numHeads;
  const half = headRows / 2;
  const out = new Uint8Array(bytes.byteLength);
  for (let h = 0; h < numHeads; h++) {
    for (let j = 0; j < half; j++) {
      for (let t = 0; t < 2; t++) {
        const from = (h * headRows + t * half + j) * rowBytes;
        const to = (h * headRows + 2 * j + t) * rowBytes;
        out.set(bytes.subarray(from, from + rowBytes), to);
      }
    }
  }
  return out;
}
