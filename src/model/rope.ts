/**
 * Rotary embedding frequencies for every scaling type, computed once here so the kernels
 * only ever see `invFreq` and one attention scale (they need not know the scaling type).
 * Formulas follow transformers' `ROPE_INIT_FUNCTIONS`, in float64 then rounded to float32.
 */
import { ModelLoadError } from './errors.js';
import type { ModelSpec, RopeSpec } from './spec.js';

export interface RopeTables {
  /** [rotaryDim / 2] inverse frequency of each rotated pair. */
  invFreq: Float32Array;
  /** Multiplies cos and sin (yarn's attention factor; 1 otherwise). */
  attentionScale: number;
  /** Leading channels of each head that are rotated. */
  rotaryDim: number;
}

function baseInvFreq(theta: number, dim: number): number[] {
  const out: number[] = [];
  // NOTE: transformers computes the exponent in float32; Math.fround keeps us on the same values.
  for (let i = 0; i < dim; i += 2) out.push(Math.fround(1 / Math.fround(theta ** Math.fround(i / dim))));
  return out;
}

/**
 * The context length llama3 scaling was pretrained at (config.ts also takes it from the top level
 * of config.json). transformers 4 refuses a llama3 config without it (5 falls back to
 * max_position_embeddings and warns); Llama 3.1's 8192 would silently rescale another model.
 */
function llama3OriginalContext(rope: RopeSpec): number {
  if (rope.originalMaxPositionEmbeddings === undefined) {
    throw new ModelLoadError('config.json: rope type "llama3" needs "original_max_position_embeddings" (in its rope parameters or at the top level)');
  }
  return rope.originalMaxPositionEmbeddings;
}

/**
 * llama3 scaling of a base frequency whose wavelength is `wavelen`, as the divisor applied to it:
 * 1 for short waves, `factor` for long ones, and between them transformers' smooth interpolation
 * ((1 - smooth) * f / factor + smooth * f). The GGUF export writes these divisors as rope_freqs.
 */
export function llama3Divisor(wavelen: number, rope: RopeSpec): number {
  const { factor = 8, lowFreqFactor = 1, highFreqFactor = 4 } = rope;
  const original = llama3OriginalContext(rope);
  if (wavelen < original / highFreqFactor) return 1;
  if (wavelen > original / lowFreqFactor) return factor;
  const smooth = (original / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
  return 1 / ((1 - smooth) / factor + smooth);
}

function llama3(inv: number[], spec: ModelSpec): number[] {
  return inv.map((f) => f / llama3Divisor((2 * Math.PI) / f, spec.rope));
}

/** transformers' yarn `get_mscale`: the attention magnitude for a context `scale` times the pretrained one. */
export function yarnMscale(scale: number, mscale = 1): number {
  return scale <= 1 ? 1 : 0.1 * mscale * Math.log(scale) + 1;
}

function yarn(dim: number, spec: ModelSpec): { inv: number[]; attentionScale: number } {
  const { theta, factor = 1, betaFast = 32, betaSlow = 1, truncate = true } = spec.rope;
  const originalMax = spec.rope.originalMaxPositionEmbeddings ?? spec.maxPositionEmbeddings;
  const correctionDim = (rotations: number) =>
    (dim * Math.log(originalMax / (rotations * 2 * Math.PI))) / (2 * Math.log(theta));
  // NOTE: by default the ramp bounds widen to whole pairs; `truncate: false` (gpt-oss) keeps them fractional.
  const bound = (rotations: number, round: (x: number) => number) => {
    const d = correctionDim(rotations);
    return truncate ? round(d) : d;
  };
  const low = Math.max(bound(betaFast, Math.floor), 0);
  let high = Math.min(bound(betaSlow, Math.ceil), dim - 1);
  if (low === high) high += 0.001;
  const inv: number[] = [];
  for (let i = 0; i < dim / 2; i++) {
    const posFreq = theta ** ((2 * i) / dim);
    const ramp = Math.min(Math.max((i - low) / (high - low), 0), 1);
    const extrapolationWeight = 1 - ramp;
    inv.push((1 / (factor * posFreq)) * (1 - extrapolationWeight) + (1 / posFreq) * extrapolationWeight);
  }
  return { inv, attentionScale: spec.rope.attentionFactor ?? yarnMscale(factor) };
}

/**
 * Qwen v1's dynamic NTK base for `ntkAlpha` (src/engine/dynamic-ntk.ts): base * alpha^(dim / (dim - 2)).
 * The reference computes it in float64 and torch raises it to the exponents in float32, hence the rounding.
 */
function ntkScaledTheta(theta: number, rotaryDim: number, ntkAlpha: number): number {
  return ntkAlpha === 1 ? theta : Math.fround(theta * ntkAlpha ** (rotaryDim / (rotaryDim - 2)));
}

/** `ntkAlpha`: a sequence's dynamic NTK alpha (1: the model's own base). */
export function ropeTables(spec: ModelSpec, ntkAlpha = 1): RopeTables {
  const rotaryDim = Math.floor(spec.headDim * spec.rope.partialRotaryFactor);
  let inv = baseInvFreq(ntkScaledTheta(spec.rope.theta, rotaryDim, ntkAlpha), rotaryDim);
  let attentionScale = 1;
  switch (spec.rope.type) {
    case 'default':
      break;
    case 'linear':
      inv = inv.map((f) => f / (spec.rope.factor ?? 1));
      break;
    case 'llama3':
      inv = llama3(inv, spec);
      break;
    case 'yarn':
      ({ inv, attentionScale } = yarn(rotaryDim, spec));
      break;
    case 'dynamic':
      // NOTE: dynamic NTK changes the frequencies with the sequence length, so a cached K
      // would depend on when it was computed; vLLM also fixes it at the max length. Refuse for now.
      throw new ModelLoadError('rope type "dynamic" is not supported yet');
  }
  return { invFreq: Float32Array.from(inv), attentionScale, rotaryDim };
}
