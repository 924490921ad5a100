/**
 * ModelSpec to llama.cpp's hyperparameter keys (`<arch>.embedding_length`, ...), and the
 * rope scaling llama.cpp can express: linear and yarn as keys, llama3 as a `rope_freqs`
 * tensor of per-dimension divisors (`llama` architecture only). Anything else is refused.
 * test/gguf.test.ts checks each scaling type in llama.cpp against swiftlet's CPU runner.
 */
import { ModelLoadError } from '../errors.js';
import { llama3Divisor, yarnMscale } from '../rope.js';
import type { ModelSpec } from '../spec.js';
import { architectureOf } from '../arch/registry.js';
import type { GgufArchitecture } from '../arch/types.js';
import type { GgufBuilder } from './gguf-file.js';

/** Switches of ModelSpec that llama.cpp's architecture of that family cannot load (the family module says which). */
function checkSupported(spec: ModelSpec, gguf: GgufArchitecture): void {
  const partial = spec.rope.partialRotaryFactor !== 1 && gguf.partialRotary !== true;
  const what = gguf.unsupported(spec) ?? (partial ? 'partial rotary embedding in this exporter' : undefined);
  if (what) throw new ModelLoadError(`GGUF export: llama.cpp's "${gguf.name}" architecture has no ${what} (${spec.hfArchitecture})`);
}

/** The only yarn ramp bounds (in rotations) llama.cpp's llama, qwen2 and qwen3 architectures use. */
const YARN_BETA_FAST = 32;
const YARN_BETA_SLOW = 1;

/** llama.cpp's llama3 rope: frequency i is divided by factors[i]. */
export function llama3RopeFactors(spec: ModelSpec): Float32Array {
  const { theta } = spec.rope;
  const dim = spec.headDim;
  const factors = new Float32Array(dim / 2);
  for (let i = 0; i < dim / 2; i++) {
    // NOTE: the wavelength of llama.cpp's float32 base frequency.
    const wavelen = (2 * Math.PI) / Math.fround(1 / Math.fround(theta ** Math.fround((2 * i) / dim)));
    factors[i] = llama3Divisor(wavelen, spec.rope);
  }
  return factors;
}

/** Sets every hyperparameter key; returns the rope_freqs values when the model needs that tensor. */
export function setModelMetadata(gguf: GgufBuilder, spec: ModelSpec): Float32Array | undefined {
  const { gguf: ggufArch } = architectureOf(spec);
  checkSupported(spec, ggufArch);
  const arch = ggufArch.name;
  const u32 = (key: string, value: number) => gguf.set(`${arch}.${key}`, { type: 'uint32', value });
  const f32 = (key: string, value: number) => gguf.set(`${arch}.${key}`, { type: 'float32', value });
  gguf.set('general.architecture', { type: 'string', value: arch });
  u32('vocab_size', spec.vocabSize);
  u32('context_length', spec.maxPositionEmbeddings);
  u32('embedding_length', spec.hiddenSize);
  u32('block_count', spec.numLayers);
  u32('feed_forward_length', ggufArch.feedForwardLength?.(spec) ?? spec.intermediateSize);
  u32('attention.head_count', spec.numHeads);
  u32('attention.head_count_kv', spec.numKvHeads);
  u32('attention.key_length', spec.headDim);
  u32('attention.value_length', spec.headDim);
  u32('rope.dimension_count', Math.floor(spec.headDim * spec.rope.partialRotaryFactor));
  f32('rope.freq_base', spec.rope.theta);
  f32('attention.layer_norm_rms_epsilon', spec.rmsNormEps);

  const { rope } = spec;
  switch (rope.type) {
    case 'default':
      return undefined;
    case 'linear':
      gguf.set(`${arch}.rope.scaling.type`, { type: 'string', value: 'linear' });
      f32('rope.scaling.factor', rope.factor ?? 1);
      return undefined;
    case 'yarn': {
      // NOTE: llama.cpp's llama, qwen2 and qwen3 architectures never read
      // `rope.scaling.yarn_beta_fast` / `yarn_beta_slow` (only a few others, such as grok, do):
      // they always ramp between the correction dimensions of 32 and 1 rotations. Other values
      // would load and silently compute another model, so they are refused, and the keys not written.
      if ((rope.betaFast ?? YARN_BETA_FAST) !== YARN_BETA_FAST || (rope.betaSlow ?? YARN_BETA_SLOW) !== YARN_BETA_SLOW) {
        throw new ModelLoadError(
          `GGUF export: yarn rope with beta_fast ${rope.betaFast ?? YARN_BETA_FAST} and beta_slow ${rope.betaSlow ?? YARN_BETA_SLOW}: llama.cpp's "${arch}" architecture ignores both and always uses ${YARN_BETA_FAST} and ${YARN_BETA_SLOW}`,
        );
      }
      // NOTE: llama.cpp always rounds the ramp bounds to whole pairs (ggml_rope_yarn_corr_dims) and has no key to stop it.
      if (rope.truncate === false) {
        throw new ModelLoadError(`GGUF export: yarn rope with truncate false: llama.cpp's "${arch}" architecture always rounds the ramp bounds to whole pairs`);
      }
      const factor = rope.factor ?? 1;
      gguf.set(`${arch}.rope.scaling.type`, { type: 'string', value: 'yarn' });
      f32('rope.scaling.factor', factor);
      u32('rope.scaling.original_context_length', rope.originalMaxPositionEmbeddings ?? spec.maxPositionEmbeddings);
      if (rope.attentionFactor !== undefined) {
        // NOTE: llama.cpp multiplies cos and sin by 0.1 ln(factor) + 1 (transformers' default
        // attention factor) times `rope.scaling.attn_factor`, so an explicit attention_factor is
        // written as its ratio to that default. (`rope.scaling.yarn_attn_factor`, which
        // convert_hf_to_gguf.py writes, is not read by these architectures.)
        f32('rope.scaling.attn_factor', rope.attentionFactor / yarnMscale(factor));
      }
      return undefined;
    }
    case 'llama3':
      if (!ggufArch.ropeFreqsTensor) {
        throw new ModelLoadError(`GGUF export: llama3 rope scaling is only loadable by llama.cpp's "llama" architecture, not "${arch}"`);
      }
      return llama3RopeFactors(spec);
    case 'dynamic':
      throw new ModelLoadError('GGUF export: dynamic NTK rope scaling has no llama.cpp equivalent');
  }
}
