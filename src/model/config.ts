/**
 * config.json (+ generation_config.json) to ModelSpec, for both the older layout
 * (`rope_theta`, `rope_scaling`, `torch_dtype`) and the newer one (`rope_parameters`, `dtype`).
 * The parsing every family shares lives here; each family's own switches come from its
 * architecture module (src/model/arch/).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ModelLoadError } from './errors.js';
import { yarnMscale } from './rope.js';
import type { ModelSpec, RopeSpec, WeightDtype } from './spec.js';
import { architectureNamed } from './arch/registry.js';
import { parseQuantConfig } from './quant/quant-config.js';

type Json = Record<string, unknown>;

function num(config: Json, key: string, fallback?: number): number {
  const value = config[key];
  if (typeof value === 'number') return value;
  if (fallback !== undefined) return fallback;
  throw new ModelLoadError(`config.json: missing numeric field "${key}"`);
}

function optionalNumber(obj: Json, key: string): number | undefined {
  const value = obj[key];
  return typeof value === 'number' ? value : undefined;
}

function tokenIds(value: unknown): number[] {
  if (typeof value === 'number') return [value];
  if (Array.isArray(value)) return value.filter((v): v is number => typeof v === 'number');
  return [];
}

function parseDtype(config: Json): WeightDtype {
  const raw = (config['dtype'] ?? config['torch_dtype'] ?? 'float32') as string;
  switch (raw) {
    case 'bfloat16':
    case 'float16':
    case 'float32':
      return raw;
    case 'float':
      return 'float32';
    case 'half':
      return 'float16';
    default:
      throw new ModelLoadError(`config.json: unsupported dtype "${String(raw)}"`);
  }
}

/**
 * DeepSeek-style yarn gives `mscale` and `mscale_all_dim` instead of an attention factor: transformers
 * then divides the two magnitudes (if both are set and non-zero, and attention_factor is not). Resolved
 * here so the runners and the GGUF export only ever see an attention factor.
 */
function mscaleAttentionFactor(p: Json, factor: number): number | undefined {
  const mscale = optionalNumber(p, 'mscale');
  const mscaleAllDim = optionalNumber(p, 'mscale_all_dim');
  if (!mscale || !mscaleAllDim) return undefined;
  return yarnMscale(factor, mscale) / yarnMscale(factor, mscaleAllDim);
}

/** Newer configs nest everything in `rope_parameters`; older ones split `rope_theta` and `rope_scaling`. */
function parseRope(config: Json): RopeSpec {
  const params = (config['rope_parameters'] ?? config['rope_scaling'] ?? {}) as Json | null;
  const p: Json = params ?? {};
  const theta = optionalNumber(p, 'rope_theta') ?? optionalNumber(config, 'rope_theta') ?? 10000;
  const rawType = (p['rope_type'] ?? p['type'] ?? 'default') as string;
  const known: RopeSpec['type'][] = ['default', 'linear', 'llama3', 'yarn', 'dynamic'];
  if (!known.includes(rawType as RopeSpec['type'])) {
    throw new ModelLoadError(`config.json: unsupported rope type "${rawType}" (supported: ${known.join(', ')})`);
  }
  const rope: RopeSpec = {
    type: rawType as RopeSpec['type'],
    theta,
    partialRotaryFactor: optionalNumber(p, 'partial_rotary_factor') ?? optionalNumber(config, 'partial_rotary_factor') ?? 1,
  };
  const optional: [keyof RopeSpec, string][] = [
    ['factor', 'factor'],
    ['lowFreqFactor', 'low_freq_factor'],
    ['highFreqFactor', 'high_freq_factor'],
    ['originalMaxPositionEmbeddings', 'original_max_position_embeddings'],
    ['betaFast', 'beta_fast'],
    ['betaSlow', 'beta_slow'],
    ['attentionFactor', 'attention_factor'],
  ];
  for (const [field, key] of optional) {
    const value = optionalNumber(p, key);
    if (value !== undefined) (rope as unknown as Record<string, number>)[field] = value;
  }
  if (rope.type !== 'default' && rope.factor === undefined) {
    throw new ModelLoadError(`config.json: rope type "${rope.type}" needs a "factor"`);
  }
  // NOTE: transformers 5 moves a top-level original_max_position_embeddings (Phi-3 style) into the
  // llama3 and yarn rope parameters, over any value already there.
  const topLevelOriginalMax = optionalNumber(config, 'original_max_position_embeddings');
  if ((rope.type === 'llama3' || rope.type === 'yarn') && topLevelOriginalMax !== undefined) {
    rope.originalMaxPositionEmbeddings = topLevelOriginalMax;
  }
  if (rope.type === 'yarn') {
    const attentionFactor = rope.attentionFactor ?? mscaleAttentionFactor(p, rope.factor ?? 1);
    if (attentionFactor !== undefined) rope.attentionFactor = attentionFactor;
    // NOTE: transformers tests `truncate` for truth, so null turns it off as false does.
    if ('truncate' in p && !p['truncate']) rope.truncate = false;
  }
  return rope;
}

export function specFromConfig(original: Json, generationConfig: Json = {}): ModelSpec {
  const architectures = original['architectures'];
  const hfArchitecture = Array.isArray(architectures) && typeof architectures[0] === 'string' ? architectures[0] : '';
  const arch = architectureNamed(hfArchitecture);
  const config = arch.standardConfig?.(original) ?? original;
  const { rope: familyRope, ...switches } = arch.switches(original);
  const hiddenSize = num(config, 'hidden_size');
  const numHeads = num(config, 'num_attention_heads');
  const eosTokenIds = [...new Set([...tokenIds(generationConfig['eos_token_id']), ...tokenIds(config['eos_token_id'])])];
  const quantization = parseQuantConfig(config);
  return {
    hfArchitecture,
    family: arch.family,
    vocabSize: num(config, 'vocab_size'),
    hiddenSize,
    intermediateSize: num(config, 'intermediate_size'),
    numLayers: num(config, 'num_hidden_layers'),
    numHeads,
    numKvHeads: num(config, 'num_key_value_heads', numHeads),
    // NOTE: Qwen3 and some Llama variants set head_dim independently of hidden_size / heads.
    headDim: num(config, 'head_dim', hiddenSize / numHeads),
    rmsNormEps: num(config, 'rms_norm_eps', 1e-6),
    maxPositionEmbeddings: num(config, 'max_position_embeddings', 2048),
    tieWordEmbeddings: config['tie_word_embeddings'] === true,
    ...switches,
    rope: { ...parseRope(config), ...familyRope },
    dtype: parseDtype(config),
    bosTokenId: tokenIds(config['bos_token_id'])[0] ?? null,
    eosTokenIds,
    ...(quantization ? { quantization } : {}),
  };
}

function readJson(path: string): Json {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Json;
  } catch (err) {
    throw new ModelLoadError(`cannot read ${path}: ${(err as Error).message}`);
  }
}

/** The spec of the checkpoint in `dir`, with generation_config.json's EOS ids merged in. */
export function loadModelSpec(dir: string): ModelSpec {
  const configPath = join(dir, 'config.json');
  if (!existsSync(configPath)) throw new ModelLoadError(`no config.json in ${dir}`);
  const generationPath = join(dir, 'generation_config.json');
  const generation = existsSync(generationPath) ? readJson(generationPath) : {};
  return specFromConfig(readJson(configPath), generation);
}
