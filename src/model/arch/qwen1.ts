/**
 * Qwen v1 (`QWenLMHeadModel`, Qwen-7B/-Chat): fused `c_attn` with bias, an MLP of `c_proj(w1(x) *
 * silu(w2(x)))` (so w2 is the gate), halves of `intermediate_size` wide, and two long-context tricks
 * past `seq_length`: log-n query scaling (run natively) and dynamic NTK (refused, see spec.ts).
 */
import { ModelLoadError } from '../errors.js';
import { attentionWidthMismatch } from './gguf-shapes.js';
import { namedCheckpointLayout } from './named-layout.js';
import type { Architecture, Json } from './types.js';

function numberField(config: Json, key: string): number {
  const value = config[key];
  if (typeof value !== 'number') throw new ModelLoadError(`config.json: missing numeric field "${key}" (QWenLMHeadModel)`);
  return value;
}

export const QWEN1: Architecture = {
  family: 'qwen',
  hfArchitectures: ['QWenLMHeadModel'],
  standardConfig: (config) => ({
    ...config,
    // NOTE: modeling_qwen.py makes w1 and w2 intermediate_size / 2 wide.
    intermediate_size: numberField(config, 'intermediate_size') / 2,
    head_dim: numberField(config, 'kv_channels'),
    rms_norm_eps: config['layer_norm_epsilon'],
    rope_theta: config['rotary_emb_base'],
    partial_rotary_factor: config['rotary_pct'],
  }),
  switches(config) {
    const bias = config['no_bias'] !== true;
    const seqLength = numberField(config, 'seq_length');
    return {
      qkvBias: true,
      oBias: bias,
      mlpBias: bias,
      qkNorm: false,
      ...(config['use_logn_attn'] === true ? { lognAttnContext: seqLength } : {}),
      ...(config['use_dynamic_ntk'] === true ? { rope: { dynamicNtkContext: seqLength } } : {}),
    };
  },
  checkpoint: namedCheckpointLayout({
    model: { embedding: 'transformer.wte.weight', finalNorm: 'transformer.ln_f.weight', lmHead: 'lm_head.weight' },
    layerPrefix: (layer) => `transformer.h.${layer}.`,
    layerName: /^transformer\.h\.(\d+)\.(.+)$/,
    layer: {
      inputNorm: ['ln_1.weight'],
      postNorm: ['ln_2.weight'],
      qkv: ['attn.c_attn.weight'],
      qkvBias: ['attn.c_attn.bias'],
      o: ['attn.c_proj.weight'],
      oBias: ['attn.c_proj.bias'],
      gateUp: ['mlp.w2.weight', 'mlp.w1.weight'],
      gateUpBias: ['mlp.w2.bias', 'mlp.w1.bias'],
      down: ['mlp.c_proj.weight'],
      downBias: ['mlp.c_proj.bias'],
      qNorm: undefined,
      kNorm: undefined,
    },
    modules: {
      q_proj: 'attn.c_attn', k_proj: 'attn.c_attn', v_proj: 'attn.c_attn', o_proj: 'attn.c_proj',
      gate_proj: 'mlp.w2', up_proj: 'mlp.w1', down_proj: 'mlp.c_proj',
    },
  }),
  // NOTE: llama.cpp's "qwen" has neither dynamic NTK nor log-n scaling: the file computes what the
  // checkpoint does up to seq_length, and plain rope past it. Nothing is refused for that.
  gguf: {
    name: 'qwen',
    permutesRope: false,
    ropeFreqsTensor: false,
    unsupported: (spec) => (spec.oBias || spec.mlpBias ? 'c_proj or MLP bias (no_bias false)' : attentionWidthMismatch(spec)),
    // NOTE: llama.cpp's qwen reads the config's intermediate_size and makes w1 and w2 half of it wide.
    feedForwardLength: (spec) => 2 * spec.intermediateSize,
  },
  tokenizer: 'gpt2',
};
