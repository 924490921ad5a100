/**
 * The canonical layout's tensors by the names llama.cpp's loader looks up (the same in all its
 * architectures), one per checkpoint part of a slot (a fused name where the checkpoint fuses
 * them), and the q/k row order its `llama` architecture expects.
 */
import { MODEL_LAYER, type Slot, type SlotRef } from '../layout.js';
import type { Architecture } from '../arch/types.js';
import { ModelLoadError } from '../errors.js';
import type { ModelSpec } from '../spec.js';

/** llama.cpp's name of each part of a slot (q, k, v of `qkv`; gate, up of `gateUp`), without `blk.<n>.`. */
const PART_NAMES: Record<Slot, readonly string[]> = {
  embedding: ['token_embd.weight'],
  finalNorm: ['output_norm.weight'],
  lmHead: ['output.weight'],
  inputNorm: ['attn_norm.weight'],
  postNorm: ['ffn_norm.weight'],
  qkv: ['attn_q.weight', 'attn_k.weight', 'attn_v.weight'],
  o: ['attn_output.weight'],
  gateUp: ['ffn_gate.weight', 'ffn_up.weight'],
  down: ['ffn_down.weight'],
  qkvBias: ['attn_q.bias', 'attn_k.bias', 'attn_v.bias'],
  oBias: ['attn_output.bias'],
  gateUpBias: ['ffn_gate.bias', 'ffn_up.bias'],
  downBias: ['ffn_down.bias'],
  qNorm: ['attn_q_norm.weight'],
  kNorm: ['attn_k_norm.weight'],
};

/** llama.cpp's per-dimension rope divisors (llama3 scaling), a model-level tensor. */
export const ROPE_FREQS_TENSOR = 'rope_freqs.weight';

/**
 * llama.cpp's name of a slot the checkpoint stores as one fused tensor (Qwen v1's c_attn,
 * ChatGLM's query_key_value; ChatGLM's dense_h_to_4h, gate rows then up rows, is the `ffn_up`
 * its SwiGLU splits in halves).
 */
const FUSED_NAMES: Partial<Record<Slot, string>> = {
  qkv: 'attn_qkv.weight',
  qkvBias: 'attn_qkv.bias',
  gateUp: 'ffn_up.weight',
};

/** The llama.cpp name of part `part` of (layer, slot), whose checkpoint holds it in `numParts` tensors. */
export function ggufTensorName(ref: SlotRef, part: number, numParts: number): string {
  const parts = PART_NAMES[ref.slot];
  const name = numParts === 1 && parts.length > 1 ? FUSED_NAMES[ref.slot] : parts[part];
  if (!name) throw new ModelLoadError(`GGUF export: no llama.cpp name for part ${part} of ${numParts} of ${ref.slot}`);
  return ref.layer === MODEL_LAYER ? name : `blk.${ref.layer}.${name}`;
}

/**
 * How many heads to regroup the rows of part `part` of `slot` by, or 0 when its rows stay as they are.
 * NOTE: Hugging Face's Llama rotates channel i with i + headDim/2 (rotate_half); llama.cpp's
 * `llama` architecture rotates adjacent pairs (2i, 2i+1), so q and k rows (weights and
 * biases) are reordered per head. Its qwen2/qwen3 architectures use the Hugging Face order.
 */
export function ropePermuteHeads(spec: ModelSpec, arch: Architecture, slot: Slot, part: number): number {
  if (!arch.gguf.permutesRope || (slot !== 'qkv' && slot !== 'qkvBias')) return 0;
  return part === 0 ? spec.numHeads : part === 1 ? spec.numKvHeads : 0;
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
