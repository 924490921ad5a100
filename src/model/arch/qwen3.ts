/** Qwen3: RMSNorm over each head of q and k before rotary; q/k/v bias only with attention_bias. */
import { HF_DECODER_LAYOUT } from './hf-decoder.js';
import type { Architecture } from './types.js';

export const QWEN3: Architecture = {
  family: 'qwen3',
  hfArchitectures: ['Qwen3ForCausalLM'],
  switches: (config) => ({ qkvBias: config['attention_bias'] === true, oBias: false, mlpBias: false, qkNorm: true }),
  checkpoint: HF_DECODER_LAYOUT,
  gguf: {
    name: 'qwen3',
    permutesRope: false,
    ropeFreqsTensor: false,
    unsupported: (spec) => (spec.qkvBias ? 'q/k/v projection bias' : spec.oBias || spec.mlpBias ? 'o_proj or MLP bias' : undefined),
  },
  tokenizer: 'gpt2',
};
