/**
 * One normalised description of every supported decoder-only architecture.
 * Architecture differences are switches here, never copies of the forward pass.
 */
import type { QuantConfig } from './quant/quant-config.js';
export type WeightDtype = 'bfloat16' | 'float16' | 'float32';

export interface RopeSpec {
  /** `llama3` and `linear` rescale the inverse frequencies; `yarn` also scales attention. */
  type: 'default' | 'linear' | 'llama3' | 'yarn' | 'dynamic';
  theta: number;
  /** Fraction of head_dim that is rotated (1 for every supported family so far). */
  partialRotaryFactor: number;
  factor?: number;
  lowFreqFactor?: number;
  highFreqFactor?: number;
  originalMaxPositionEmbeddings?: number;
  betaFast?: number;
  betaSlow?: number;
  attentionFactor?: number;
  /** Yarn: round the ramp bounds outward to whole pairs (transformers' default `true`). */
  truncate?: boolean;
  /** Rotate pairs (x[2i], x[2i+1]) (ChatGLM) instead of (x[i], x[i + rotaryDim / 2]) (Llama, Qwen). */
  interleaved?: boolean;
  /**
   * Qwen v1's `use_dynamic_ntk`: a sequence whose first forward is longer than this rotates with a
   * larger base for its whole life (src/engine/dynamic-ntk.ts).
   */
  dynamicNtkContext?: number;
}

export interface ModelSpec {
  /** The `architectures[0]` of config.json, e.g. `Qwen2ForCausalLM`. */
  hfArchitecture: string;
  /** The family whose forward pass this is: switches below say how it differs. */
  family: 'llama' | 'qwen2' | 'qwen3' | 'qwen' | 'chatglm';
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  rmsNormEps: number;
  maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
  /** Bias on q/k/v projections (Qwen2; Llama with attention_bias). */
  qkvBias: boolean;
  /** Bias on o_proj (Llama with attention_bias only). */
  oBias: boolean;
  /** Bias on gate/up/down (Llama with mlp_bias). */
  mlpBias: boolean;
  /** RMSNorm over each head of q and k before rotary (Qwen3). */
  qkNorm: boolean;
  rope: RopeSpec;
  /** Qwen v1's `use_logn_attn`: the query at 0-based position p >= this is scaled by log(p + 1) / log(this). */
  lognAttnContext?: number;
  /** Storage dtype of the checkpoint (of its scales and dense tensors, when quantized). */
  dtype: WeightDtype;
  /** config.json's quantization_config, when the linear layers are stored quantized. */
  quantization?: QuantConfig;
  bosTokenId: number | null;
  eosTokenIds: number[];
}
