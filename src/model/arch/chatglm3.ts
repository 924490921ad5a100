/**
 * ChatGLM2/3 (`ChatGLMModel`): fused `query_key_value` (q, then the multi-query groups' k and v)
 * with bias, `dense_h_to_4h` holding gate then up, untied `output_layer`, and rotary over the
 * first half of each head with interleaved pairs (modeling_chatglm.py's apply_rotary_pos_emb).
 */
import { ModelLoadError } from '../errors.js';
import { attentionWidthMismatch } from './gguf-shapes.js';
import { namedCheckpointLayout } from './named-layout.js';
import type { Architecture, Json } from './types.js';

const ROPE_BASE = 10000;

export const CHATGLM3: Architecture = {
  family: 'chatglm',
  hfArchitectures: ['ChatGLMModel'],
  standardConfig(config) {
    if (config['rmsnorm'] === false) throw new ModelLoadError('config.json: ChatGLM with LayerNorm (rmsnorm false) is not supported');
    if (config['apply_residual_connection_post_layernorm'] === true) {
      throw new ModelLoadError('config.json: ChatGLM with apply_residual_connection_post_layernorm is not supported');
    }
    const ropeRatio = typeof config['rope_ratio'] === 'number' ? config['rope_ratio'] : 1;
    return {
      ...config,
      vocab_size: config['padded_vocab_size'],
      intermediate_size: config['ffn_hidden_size'],
      num_hidden_layers: config['num_layers'],
      num_key_value_heads: config['multi_query_attention'] === true ? config['multi_query_group_num'] : config['num_attention_heads'],
      head_dim: config['kv_channels'],
      rms_norm_eps: config['layernorm_epsilon'],
      max_position_embeddings: config['seq_length'],
      // NOTE: rotary covers half of each head (RotaryEmbedding(rotary_dim // 2)); the 32k variant scales the base.
      rope_theta: ROPE_BASE * ropeRatio,
      partial_rotary_factor: 0.5,
    };
  },
  switches(config: Json) {
    const bias = config['add_bias_linear'] === true;
    return { qkvBias: config['add_qkv_bias'] === true || bias, oBias: bias, mlpBias: bias, qkNorm: false, rope: { interleaved: true } };
  },
  checkpoint: namedCheckpointLayout({
    model: {
      embedding: 'transformer.embedding.word_embeddings.weight',
      finalNorm: 'transformer.encoder.final_layernorm.weight',
      lmHead: 'transformer.output_layer.weight',
    },
    layerPrefix: (layer) => `transformer.encoder.layers.${layer}.`,
    layerName: /^transformer\.encoder\.layers\.(\d+)\.(.+)$/,
    layer: {
      inputNorm: ['input_layernorm.weight'],
      postNorm: ['post_attention_layernorm.weight'],
      qkv: ['self_attention.query_key_value.weight'],
      qkvBias: ['self_attention.query_key_value.bias'],
      o: ['self_attention.dense.weight'],
      oBias: ['self_attention.dense.bias'],
      gateUp: ['mlp.dense_h_to_4h.weight'],
      gateUpBias: ['mlp.dense_h_to_4h.bias'],
      down: ['mlp.dense_4h_to_h.weight'],
      downBias: ['mlp.dense_4h_to_h.bias'],
      qNorm: undefined,
      kNorm: undefined,
    },
    modules: {
      q_proj: 'self_attention.query_key_value', k_proj: 'self_attention.query_key_value', v_proj: 'self_attention.query_key_value',
      o_proj: 'self_attention.dense', gate_proj: 'mlp.dense_h_to_4h', up_proj: 'mlp.dense_h_to_4h', down_proj: 'mlp.dense_4h_to_h',
    },
  }),
  // NOTE: llama.cpp's "chatglm" rotates adjacent pairs (its NORM rope) over rope.dimension_count
  // channels, which is this family's interleaved rotary over the first half of each head.
  gguf: {
    name: 'chatglm',
    permutesRope: false,
    ropeFreqsTensor: false,
    unsupported: (spec) => (spec.oBias || spec.mlpBias ? 'dense or MLP bias (add_bias_linear)' : attentionWidthMismatch(spec)),
    partialRotary: true,
  },
  tokenizer: 'llama',
};
