/** Llama, and the architectures that run as it (Mistral, Yi): optional attention and MLP biases. */
import { HF_DECODER_LAYOUT } from './hf-decoder.js';
import type { Architecture } from './types.js';

export const LLAMA: Architecture = {
  family: 'llama',
  hfArchitectures: ['LlamaForCausalLM', 'MistralForCausalLM', 'YiForCausalLM'],
  switches(config) {
    const attentionBias = config['attention_bias'] === true;
    return { qkvBias: attentionBias, oBias: attentionBias, mlpBias: config['mlp_bias'] === true, qkNorm: false };
  },
  checkpoint: HF_DECODER_LAYOUT,
  gguf: {
    name: 'llama',
    permutesRope: true,
    ropeFreqsTensor: true,
    unsupported: (spec) => (spec.qkNorm ? 'q/k norm' : undefined),
  },
  tokenizer: 'gpt2',
};
