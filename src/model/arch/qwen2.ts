/** Qwen2 (and Qwen2.5): a bias on q/k/v, none elsewhere. */
import { HF_DECODER_LAYOUT } from './hf-decoder.js';
import type { Architecture } from './types.js';

export const QWEN2: Architecture = {
  family: 'qwen2',
  hfArchitectures: ['Qwen2ForCausalLM'],
  switches: () => ({ qkvBias: true, oBias: false, mlpBias: false, qkNorm: false }),
  checkpoint: HF_DECODER_LAYOUT,
  gguf: {
    name: 'qwen2',
    permutesRope: false,
    ropeFreqsTensor: false,
    unsupported: (spec) => (spec.oBias || spec.mlpBias ? 'o_proj or MLP bias' : spec.qkNorm ? 'q/k norm' : undefined),
  },
  tokenizer: 'gpt2',
};
