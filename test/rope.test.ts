/**
 * config.json rope keys to inverse frequencies and attention factor, for the configs that need more
 * than the common keys: DeepSeek-style yarn (mscale / mscale_all_dim), yarn without truncation
 * (gpt-oss), an original_max_position_embeddings at the top level of config.json, and llama3
 * without one. Expected values come from transformers' formulas written out here in float64
 * (`_compute_yarn_parameters`, `_compute_llama3_parameters`), not from swiftlet's code.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { specFromConfig } from '../src/model/config.js';
import { ModelLoadError } from '../src/model/errors.js';
import { GgufBuilder } from '../src/model/gguf/gguf-file.js';
import { llama3RopeFactors, setModelMetadata } from '../src/model/gguf/model-metadata.js';
import { ropeTables } from '../src/model/rope.js';

type Json = Record<string, unknown>;

/** A Llama config whose heads are `headDim` wide; `extra` adds or overrides top-level keys. */
function llamaConfig(headDim: number, extra: Json): Json {
  return {
    architectures: ['LlamaForCausalLM'],
    vocab_size: 32,
    hidden_size: 4 * headDim,
    intermediate_size: 8 * headDim,
    num_hidden_layers: 1,
    num_attention_heads: 4,
    max_position_embeddings: 4096,
    ...extra,
  };
}

/** transformers' `get_mscale`. */
function getMscale(scale: number, mscale = 1): number {
  return scale <= 1 ? 1 : 0.1 * mscale * Math.log(scale) + 1;
}

interface YarnReference {
  dim: number;
  base: number;
  factor: number;
  originalMax: number;
  truncate?: boolean;
}

/** transformers' yarn inverse frequencies (beta_fast 32, beta_slow 1). */
function yarnInvFreq({ dim, base, factor, originalMax, truncate = true }: YarnReference): number[] {
  const correctionDim = (rotations: number) => (dim * Math.log(originalMax / (rotations * 2 * Math.PI))) / (2 * Math.log(base));
  let low = correctionDim(32);
  let high = correctionDim(1);
  if (truncate) {
    low = Math.floor(low);
    high = Math.ceil(high);
  }
  low = Math.max(low, 0);
  high = Math.min(high, dim - 1);
  if (low === high) high += 0.001;
  const out: number[] = [];
  for (let i = 0; i < dim / 2; i++) {
    const posFreq = base ** ((2 * i) / dim);
    const ramp = Math.min(Math.max((i - low) / (high - low), 0), 1);
    const extrapolationFactor = 1 - ramp;
    out.push((1 / (factor * posFreq)) * (1 - extrapolationFactor) + (1 / posFreq) * extrapolationFactor);
  }
  return out;
}

/** transformers' llama3 inverse frequencies. */
function llama3InvFreq(dim: number, base: number, factor: number, low: number, high: number, originalMax: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < dim; i += 2) {
    const f = 1 / base ** (i / dim);
    const wavelen = (2 * Math.PI) / f;
    if (wavelen < originalMax / high) out.push(f);
    else if (wavelen > originalMax / low) out.push(f / factor);
    else {
      const smooth = (originalMax / wavelen - low) / (high - low);
      out.push((1 - smooth) * (f / factor) + smooth * f);
    }
  }
  return out;
}

/** Float32 tables against float64 references: a few float32 roundings apart at most. */
function assertClose(actual: ArrayLike<number>, expected: number[], label: string): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  expected.forEach((e, i) => {
    const a = actual[i] ?? NaN;
    assert.ok(Math.abs(a - e) <= 1e-6 * Math.abs(e), `${label}: pair ${i}: ${a} vs ${e}`);
  });
}

describe('rope parameters match transformers', () => {
  test('yarn with mscale and mscale_all_dim (DeepSeek-V2 style): attention factor is their ratio', () => {
    const rope = { rope_type: 'yarn', factor: 40, mscale: 0.707, mscale_all_dim: 0.707, original_max_position_embeddings: 4096, beta_fast: 32, beta_slow: 1 };
    const spec = specFromConfig(llamaConfig(64, { max_position_embeddings: 163840, rope_theta: 10000, rope_scaling: rope }));
    const tables = ropeTables(spec);
    assertClose(tables.invFreq, yarnInvFreq({ dim: 64, base: 10000, factor: 40, originalMax: 4096 }), 'DeepSeek-V2 inverse frequencies');
    assert.equal(tables.attentionScale, getMscale(40, 0.707) / getMscale(40, 0.707));
    assert.notEqual(tables.attentionScale, getMscale(40), 'the plain yarn attention factor would be wrong here');

    // Unequal magnitudes: mscale over mscale_all_dim, not the other way round.
    const uneven = specFromConfig(llamaConfig(64, { rope_scaling: { ...rope, mscale: 1, mscale_all_dim: 0.5 } }));
    assert.equal(ropeTables(uneven).attentionScale, getMscale(40, 1) / getMscale(40, 0.5));
    // Either one missing or 0: the plain yarn factor; an explicit attention_factor always wins.
    const allDimZero = specFromConfig(llamaConfig(64, { rope_scaling: { ...rope, mscale_all_dim: 0 } }));
    assert.equal(ropeTables(allDimZero).attentionScale, getMscale(40));
    const explicit = specFromConfig(llamaConfig(64, { rope_scaling: { ...rope, attention_factor: 1.25 } }));
    assert.equal(ropeTables(explicit).attentionScale, 1.25);
  });

  test('yarn with truncate false (gpt-oss style): fractional ramp bounds', () => {
    const reference = { dim: 64, base: 150000, factor: 32, originalMax: 4096 };
    const rope = { rope_type: 'yarn', rope_theta: 150000, factor: 32, original_max_position_embeddings: 4096, beta_fast: 32, beta_slow: 1, truncate: false };
    const spec = specFromConfig(llamaConfig(64, { max_position_embeddings: 131072, rope_parameters: rope }));
    const expected = yarnInvFreq({ ...reference, truncate: false });
    assertClose(ropeTables(spec).invFreq, expected, 'truncate false');
    assert.notDeepEqual(expected, yarnInvFreq(reference), 'truncation must matter for this shape');
    const truncated = specFromConfig(llamaConfig(64, { max_position_embeddings: 131072, rope_parameters: { ...rope, truncate: true } }));
    assertClose(ropeTables(truncated).invFreq, yarnInvFreq(reference), 'truncate true');
  });

  test('yarn with original_max_position_embeddings only at the top level of config.json', () => {
    const reference = { dim: 64, base: 1e6, factor: 4, originalMax: 32768 };
    const config = llamaConfig(64, { max_position_embeddings: 131072, original_max_position_embeddings: 32768, rope_parameters: { rope_type: 'yarn', rope_theta: 1e6, factor: 4 } });
    const spec = specFromConfig(config);
    assert.equal(spec.rope.originalMaxPositionEmbeddings, 32768);
    assertClose(ropeTables(spec).invFreq, yarnInvFreq(reference), 'top-level original_max_position_embeddings');
    assert.notDeepEqual(yarnInvFreq(reference), yarnInvFreq({ ...reference, originalMax: 131072 }), 'max_position_embeddings would give other frequencies');
    // NOTE: transformers 5 (standardize_rope_params) prefers the top-level value to one in the rope parameters.
    const both = specFromConfig({ ...config, rope_parameters: { rope_type: 'yarn', rope_theta: 1e6, factor: 4, original_max_position_embeddings: 8192 } });
    assertClose(ropeTables(both).invFreq, yarnInvFreq(reference), 'top-level over rope parameters');
  });

  test('llama3 without original_max_position_embeddings is refused; a top-level one is used', () => {
    const rope = { rope_type: 'llama3', rope_theta: 500000, factor: 8, low_freq_factor: 1, high_freq_factor: 4 };
    const missing = specFromConfig(llamaConfig(64, { max_position_embeddings: 131072, rope_parameters: rope }));
    const refused = (err: unknown) => err instanceof ModelLoadError && /llama3.*original_max_position_embeddings/.test(err.message);
    assert.throws(() => ropeTables(missing), refused);
    assert.throws(() => llama3RopeFactors(missing), refused, 'the GGUF export refuses it too');

    const topLevel = specFromConfig(llamaConfig(64, { max_position_embeddings: 131072, original_max_position_embeddings: 2048, rope_parameters: rope }));
    assertClose(ropeTables(topLevel).invFreq, llama3InvFreq(64, 500000, 8, 1, 4, 2048), 'top-level original_max_position_embeddings');
  });

  test('GGUF export: mscale reaches llama.cpp as an attention factor, truncate false is refused', () => {
    const rope = { rope_type: 'yarn', rope_theta: 10000, factor: 40, mscale: 1, mscale_all_dim: 0.5, original_max_position_embeddings: 4096 };
    const gguf = new GgufBuilder();
    setModelMetadata(gguf, specFromConfig(llamaConfig(64, { rope_parameters: rope })));
    // NOTE: llama.cpp multiplies rope.scaling.attn_factor by 0.1 ln(factor) + 1 (see model-metadata.ts).
    const attnFactor = gguf.get('llama.rope.scaling.attn_factor');
    assert.ok(attnFactor?.type === 'float32', 'attn_factor written');
    assert.ok(Math.abs(attnFactor.value * getMscale(40) - getMscale(40, 1) / getMscale(40, 0.5)) < 1e-12);

    const untruncated = specFromConfig(llamaConfig(64, { rope_parameters: { ...rope, truncate: false } }));
    assert.throws(() => setModelMetadata(new GgufBuilder(), untruncated), /truncate false: llama\.cpp's "llama" architecture always rounds/);
  });
});
