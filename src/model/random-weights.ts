/**
 * Deterministic random weights for named model shapes: a WeightSource (and its ModelSpec)
 * for benchmarks and tests that need a real-sized model without a download, and a writer
 * that saves one as a Hugging Face checkpoint directory.
 * Weights are uniform with standard deviation 0.02 (biases too), norms 1 +- 0.1: activations stay sane.
 */
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { specFromConfig } from './config.js';
import { ModelLoadError } from './errors.js';
import { DTYPE_BYTES } from './safetensors.js';
import type { ModelSpec, WeightDtype } from './spec.js';
import { architectureOf } from './arch/registry.js';
import { linearOf, requiredSlots, slotRowParts, slotShape, type Slot } from './layout.js';
import type { TensorData, WeightSource } from './tensors.js';

type Json = Record<string, unknown>;

const QWEN2_COMMON: Json = {
  architectures: ['Qwen2ForCausalLM'],
  model_type: 'qwen2',
  hidden_act: 'silu',
  rms_norm_eps: 1e-6,
  rope_theta: 1000000.0,
  bos_token_id: 151643,
  eos_token_id: 151645,
};

const QWEN1_COMMON: Json = {
  architectures: ['QWenLMHeadModel'],
  model_type: 'qwen',
  rotary_emb_base: 10000,
  rotary_pct: 1.0,
  layer_norm_epsilon: 1e-6,
  no_bias: true,
  use_dynamic_ntk: true,
  use_logn_attn: true,
  tie_word_embeddings: false,
  torch_dtype: 'bfloat16',
};

const CHATGLM3_COMMON: Json = {
  architectures: ['ChatGLMModel'],
  model_type: 'chatglm',
  multi_query_attention: true,
  multi_query_group_num: 2,
  layernorm_epsilon: 1e-5,
  add_qkv_bias: true,
  add_bias_linear: false,
  rmsnorm: true,
  original_rope: true,
  tie_word_embeddings: false,
  torch_dtype: 'bfloat16',
};

/** config.json of each named shape (the published models' sizes). */
export const RANDOM_MODEL_CONFIGS: Record<string, Json> = {
  'qwen2.5-0.5b': {
    ...QWEN2_COMMON,
    hidden_size: 896,
    num_hidden_layers: 24,
    num_attention_heads: 14,
    num_key_value_heads: 2,
    intermediate_size: 4864,
    vocab_size: 151936,
    max_position_embeddings: 32768,
    tie_word_embeddings: true,
    torch_dtype: 'bfloat16',
  },
  'qwen2.5-7b': {
    ...QWEN2_COMMON,
    hidden_size: 3584,
    num_hidden_layers: 28,
    num_attention_heads: 28,
    num_key_value_heads: 4,
    intermediate_size: 18944,
    vocab_size: 152064,
    max_position_embeddings: 32768,
    tie_word_embeddings: false,
    torch_dtype: 'bfloat16',
  },
  'qwen3-0.6b': {
    architectures: ['Qwen3ForCausalLM'],
    model_type: 'qwen3',
    hidden_act: 'silu',
    hidden_size: 1024,
    num_hidden_layers: 28,
    num_attention_heads: 16,
    num_key_value_heads: 8,
    head_dim: 128,
    intermediate_size: 3072,
    vocab_size: 151936,
    max_position_embeddings: 40960,
    rms_norm_eps: 1e-6,
    rope_theta: 1000000.0,
    tie_word_embeddings: true,
    torch_dtype: 'bfloat16',
    bos_token_id: 151643,
    eos_token_id: 151645,
  },
  'qwen3-tiny': {
    architectures: ['Qwen3ForCausalLM'],
    model_type: 'qwen3',
    hidden_act: 'silu',
    hidden_size: 64,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    head_dim: 32,
    intermediate_size: 96,
    vocab_size: 1000,
    max_position_embeddings: 4096,
    rms_norm_eps: 1e-6,
    rope_theta: 1000000.0,
    tie_word_embeddings: true,
    torch_dtype: 'bfloat16',
    bos_token_id: 1,
    eos_token_id: 2,
  },
  // NOTE: the two families with their own config keys, at their published 7B/6B sizes (bench shapes).
  'qwen-7b': {
    ...QWEN1_COMMON,
    hidden_size: 4096,
    num_hidden_layers: 32,
    num_attention_heads: 32,
    kv_channels: 128,
    intermediate_size: 22016,
    vocab_size: 151936,
    seq_length: 8192,
    max_position_embeddings: 8192,
    eos_token_id: 151643,
  },
  'chatglm3-6b': {
    ...CHATGLM3_COMMON,
    hidden_size: 4096,
    num_layers: 28,
    num_attention_heads: 32,
    kv_channels: 128,
    ffn_hidden_size: 13696,
    padded_vocab_size: 65024,
    seq_length: 8192,
    eos_token_id: 2,
  },
  // NOTE: tiny shapes of the same two at a head_dim the CUDA kernels take (the fixtures' 8 is below their 16),
  // seq_length 32 so that log-n scaling starts within a short test.
  'qwen1-tiny': {
    ...QWEN1_COMMON,
    hidden_size: 64,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    kv_channels: 16,
    intermediate_size: 192,
    vocab_size: 1000,
    seq_length: 32,
    max_position_embeddings: 4096,
    eos_token_id: 2,
  },
  'chatglm3-tiny': {
    ...CHATGLM3_COMMON,
    hidden_size: 64,
    num_layers: 2,
    num_attention_heads: 4,
    kv_channels: 32,
    ffn_hidden_size: 96,
    padded_vocab_size: 1000,
    seq_length: 4096,
    eos_token_id: 2,
  },
  'llama-tiny': {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_act: 'silu',
    hidden_size: 96,
    num_hidden_layers: 2,
    num_attention_heads: 6,
    num_key_value_heads: 2,
    intermediate_size: 200,
    vocab_size: 999,
    attention_bias: true,
    mlp_bias: true,
    max_position_embeddings: 4096,
    rms_norm_eps: 1e-5,
    rope_theta: 500000.0,
    rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
    tie_word_embeddings: false,
    torch_dtype: 'bfloat16',
    bos_token_id: 1,
    eos_token_id: 2,
  },
};

export interface RandomModelOptions {
  seed?: number;
  /** Storage dtype (default: the shape's, bf16). */
  dtype?: WeightDtype;
  /** Fewer layers than the named shape, for quick tests. */
  numLayers?: number;
  /** Standard deviation of the weights (default 0.02). */
  std?: number;
}

export interface RandomModel {
  config: Json;
  spec: ModelSpec;
  source: RandomWeightSource;
}

/** 32-bit FNV-1a of a tensor name, so each tensor has its own stream. */
function hashName(name: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** Round-to-nearest-even float32 bits to bfloat16 bits. */
function bf16Bits(f32Bits: number): number {
  return ((f32Bits + 0x7fff + ((f32Bits >>> 16) & 1)) >>> 16) & 0xffff;
}

function floatToHalfBits(value: number): number {
  const f = new Float32Array([value]);
  const x = new Uint32Array(f.buffer)[0] ?? 0;
  const sign = (x >>> 16) & 0x8000;
  const exponent = ((x >>> 23) & 0xff) - 127 + 15;
  let mantissa = x & 0x7fffff;
  if (exponent <= 0) {
    if (exponent < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - exponent;
    const half = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (half + (rest > mid || (rest === mid && half & 1) ? 1 : 0));
  }
  if (exponent >= 31) return sign | 0x7c00;
  const half = (exponent << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  return sign | (half + (rest > 0x1000 || (rest === 0x1000 && half & 1) ? 1 : 0));
}

const NORM_SLOTS: ReadonlySet<Slot> = new Set<Slot>(['finalNorm', 'inputNorm', 'postNorm', 'qNorm', 'kNorm']);

export class RandomWeightSource implements WeightSource {
  private readonly shapes = new Map<string, number[]>();
  /** Norm weights by name (they are drawn around 1, not 0; the families name them differently). */
  private readonly norms = new Set<string>();

  constructor(
    readonly spec: ModelSpec,
    readonly seed = 0,
    readonly std = 0.02,
  ) {
    const { checkpoint } = architectureOf(spec);
    for (const ref of requiredSlots(spec)) {
      const names = checkpoint.tensorsOf(ref);
      const shape = slotShape(spec, ref.slot);
      // NOTE: a slot made of several checkpoint tensors splits its rows as the projections do (q, k, v; gate, up).
      const linear = linearOf(ref.slot);
      const rowParts = linear && names.length > 1 ? slotRowParts(spec, linear) : [shape[0] ?? 0];
      names.forEach((name, i) => this.shapes.set(name, [rowParts[i] ?? 0, ...shape.slice(1)]));
      if (NORM_SLOTS.has(ref.slot)) names.forEach((name) => this.norms.add(name));
    }
  }

  names(): string[] {
    return [...this.shapes.keys()];
  }

  has(name: string): boolean {
    return this.shapes.has(name);
  }

  shape(name: string): number[] {
    const shape = this.shapes.get(name);
    if (!shape) throw new ModelLoadError(`random weights for ${this.spec.hfArchitecture} have no tensor "${name}"`);
    return shape;
  }

  read(name: string): TensorData {
    const shape = this.shape(name);
    const count = shape.reduce((a, b) => a * b, 1);
    const dtype = this.spec.dtype;
    const bytes = new Uint8Array(count * DTYPE_BYTES[dtype]);
    const isNorm = this.norms.has(name);
    const values = new Float32Array(Math.min(count, 1 << 16));
    const bits = new Uint32Array(values.buffer);
    let state = hashName(name, this.seed) | 1;
    // NOTE: uniform on [-a, a] with a = 0.02 * sqrt(3) has standard deviation 0.02.
    // Norm weights are 1 +- 0.1.
    const amplitude = ((isNorm ? 0.1 : this.std * Math.sqrt(3)) * 2) / 4294967296;
    const offset = isNorm ? 1 : 0;
    for (let start = 0; start < count; start += values.length) {
      const n = Math.min(values.length, count - start);
      for (let i = 0; i < n; i++) {
        state ^= state << 13;
        state ^= state >>> 17;
        state ^= state << 5;
        values[i] = offset + ((state >>> 0) - 2147483648) * amplitude;
      }
      if (dtype === 'float32') {
        bytes.set(new Uint8Array(values.buffer, 0, n * 4), start * 4);
      } else {
        const out = new Uint16Array(bytes.buffer, start * 2, n);
        for (let i = 0; i < n; i++) out[i] = dtype === 'bfloat16' ? bf16Bits(bits[i] ?? 0) : floatToHalfBits(values[i] ?? 0);
      }
    }
    return { dtype, shape, bytes };
  }
}

export function randomModelConfig(shapeName: string, options: RandomModelOptions = {}): Json {
  const base = RANDOM_MODEL_CONFIGS[shapeName];
  if (!base) {
    throw new ModelLoadError(`unknown random model shape "${shapeName}" (known: ${Object.keys(RANDOM_MODEL_CONFIGS).join(', ')})`);
  }
  const config: Json = { ...base };
  if (options.dtype) config['torch_dtype'] = options.dtype;
  // NOTE: ChatGLM counts its layers in `num_layers`.
  if (options.numLayers !== undefined) config['num_layers' in config ? 'num_layers' : 'num_hidden_layers'] = options.numLayers;
  return config;
}

export function randomModel(shapeName: string, options: RandomModelOptions = {}): RandomModel {
  const config = randomModelConfig(shapeName, options);
  const spec = specFromConfig(config);
  return { config, spec, source: new RandomWeightSource(spec, options.seed ?? 0, options.std ?? 0.02) };
}

const SAFETENSORS_DTYPES: Record<WeightDtype, string> = { bfloat16: 'BF16', float16: 'F16', float32: 'F32' };

/** Saves a random model as `dir/config.json` + `dir/model.safetensors`, tensor by tensor. */
export function writeRandomCheckpoint(shapeName: string, dir: string, options: RandomModelOptions = {}): RandomModel {
  const model = randomModel(shapeName, options);
  const { source, spec } = model;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(model.config, null, 2));
  const header: Json = { __metadata__: { format: 'pt' } };
  let offset = 0;
  const names = source.names();
  for (const name of names) {
    const shape = source.shape(name);
    const size = shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[spec.dtype];
    header[name] = { dtype: SAFETENSORS_DTYPES[spec.dtype], shape, data_offsets: [offset, offset + size] };
    offset += size;
  }
  let headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const padding = (8 - (headerBytes.length % 8)) % 8;
  headerBytes = Buffer.concat([headerBytes, Buffer.alloc(padding, 0x20)]);
  const fd = openSync(join(dir, 'model.safetensors'), 'w');
  try {
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(headerBytes.length));
    writeSync(fd, length);
    writeSync(fd, headerBytes);
    for (const name of names) writeSync(fd, source.read(name).bytes);
  } finally {
    closeSync(fd);
  }
  return model;
}
