/**
 * Rotary embedding frequencies for every scaling type, computed once here so the kernels
 * only ever see `invFreq` and one attention scale (they need not know the scaling type).
 * Formulas follow transformers' `ROPE_INIT_FUNCTIONS`, in float64 then rounded to float32.
 */
import { ModelLoadError } from './errors.js';
import type { ModelSpec } from './spec.js';

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

function llama3(inv: number[], spec: ModelSpec): number[] {
  const { factor = 8, lowFreqFactor = 1, highFreqFactor = 4, originalMaxPositionEmbeddings = 8192 } = spec.rope;
  const lowFreqWavelen = originalMaxPositionEmbeddings / lowFreqFactor;
  const highFreqWavelen = originalMaxPositionEmbeddings / highFreqFactor;
  return inv.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    if (wavelen < highFreqWavelen) return f;
    if (wavelen > lowFreqWavelen) return f / factor;
    const smooth = (originalMaxPositionEmbeddings / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
    return (1 - smooth) * (f / factor) + smooth * f;
  });
}

function yarnMscale(scale: number, mscale = 1): number {
  return scale <= 1 ? 1 : 0.1 * mscale * Math.log(scale) + 1;
}

function yarn(dim: number, spec: ModelSpec): { inv: number[]; attentionScale: number } {
  const { theta, factor = 1, betaFast = 32, betaSlow = 1 } = spec.rope;
  const originalMax = spec.rope.originalMaxPositionEmbeddings ?? spec.maxPositionEmbeddings;
  const correctionDim = (rotations: number) =>
    (dim * Math.log(originalMax / (rotations * 2 * Math.PI))) / (2 * Math.log(theta));
  const low = Math.max(Math.floor(correctionDim(betaFast)), 0);
  let high = Math.min(Math.ceil(correctionDim(betaSlow)), dim - 1);
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

export function ropeTables(spec: ModelSpec): RopeTables {
  const rotaryDim = Math.floor(spec.headDim * spec.rope.partialRotaryFactor);
  let inv = baseInvFreq(spec.rope.theta, rotaryDim);
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
