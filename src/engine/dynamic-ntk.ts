/**
 * Qwen v1's dynamic NTK rotary scaling (`use_dynamic_ntk`), as its modeling_qwen.py computes it.
 *
 * The reference picks the alpha in a sequence's first forward, the prefill, from its length:
 * `QWenModel.get_ntk_alpha` takes context_value = log2(len / seq_length) + 1 and
 * alpha = max(2^ceil(context_value) - 1, 1), and `RotaryEmbedding` rotates with the base scaled by
 * alpha^(dim / (dim - 2)). A forward with a past (a decode step) reuses `_ntk_alpha_cached_list`,
 * the prefill's alphas, so a sequence keeps its prompt's alpha for its whole life, also once it grows
 * past the next power of two, and K already cached never needs rotating again. In a padded batch the
 * reference gives each row the alpha of its unpadded length when an attention mask is passed and the
 * batch is longer than seq_length, else one alpha from the padded length for every row. swiftlet
 * batches without padding, so each sequence gets its own prompt's alpha: the reference's answer for
 * that sequence run alone.
 */
import { ropeTables } from '../model/rope.js';
import type { ModelSpec } from '../model/spec.js';

/** What a sequence rotates by when its model scales rope per sequence. */
export interface SequenceRope {
  ntkAlpha: number;
  /** [rotaryDim / 2] the inverse frequencies of the alpha-scaled base. */
  invFreq: Float32Array;
}

/** `get_ntk_alpha` of a sequence whose first forward has `numPromptTokens` tokens. */
export function dynamicNtkAlpha(numPromptTokens: number, context: number): number {
  const contextValue = Math.log2(numPromptTokens / context) + 1;
  return Math.max(2 ** Math.ceil(contextValue) - 1, 1);
}

/** Each sequence's rotary of a dynamic NTK model, with one table per alpha in use (alphas are few: 1, 3, 7, 15, ..). */
export class DynamicNtkRope {
  private readonly tables = new Map<number, Float32Array>();

  private constructor(
    private readonly spec: ModelSpec,
    private readonly context: number,
  ) {}

  /** Null for a model without dynamic NTK: every sequence then rotates by the model's own table. */
  static of(spec: ModelSpec): DynamicNtkRope | null {
    const context = spec.rope.dynamicNtkContext;
    return context === undefined ? null : new DynamicNtkRope(spec, context);
  }

  forPrompt(numPromptTokens: number): SequenceRope {
    const ntkAlpha = dynamicNtkAlpha(numPromptTokens, this.context);
    let invFreq = this.tables.get(ntkAlpha);
    if (invFreq === undefined) {
      invFreq = ropeTables(this.spec, ntkAlpha).invFreq;
      this.tables.set(ntkAlpha, invFreq);
    }
    return { ntkAlpha, invFreq };
  }
}
